// The JSON contract of WS-217, copied verbatim from the spec's "API Endpoints Required" section
// (shared/seed/000_cf7fccdc607fe260.txt). tests/contract/tsschema.py reads these interfaces;
// do not edit them to make a test pass: the spec is the contract.

// GET /api/calendar/outlook/auth
// Initiate Outlook OAuth2 authentication
interface OutlookAuthResponse {
  authUrl: string;
  state: string; // CSRF protection
}

// POST /api/calendar/outlook/auth/callback
// Handle OAuth2 callback and store tokens
interface OutlookCallbackRequest {
  code: string;
  state: string;
}

interface OutlookCallbackResponse {
  success: boolean;
  integration: OutlookIntegration;
  calendars: OutlookCalendar[]; // Available calendars to sync with
}

interface OutlookIntegration {
  id: string;
  microsoftUserId: string;
  tenantId: string;
  calendarId?: string;
  calendarName?: string;
  syncEnabled: boolean;
  syncDirection: 'to_outlook' | 'from_outlook' | 'bidirectional';
  syncPreferences: OutlookSyncPreferences;
  lastSyncAt?: string;
  lastSyncStatus: 'pending' | 'success' | 'error' | 'partial';
}

interface OutlookCalendar {
  id: string;
  name: string;
  color: string;
  isDefaultCalendar: boolean;
  canEdit: boolean;
  owner: {
    name: string;
    address: string;
  };
}

interface OutlookSyncPreferences {
  syncClientMeetings: boolean;
  syncWeddingEvents: boolean;
  syncDeadlines: boolean;
  syncTravelTime: boolean;
  eventPrefix: string;
  createSeparateCalendar: boolean;
  notificationMinutes: number[];
}

// GET /api/calendar/outlook/sync
// Get current sync status and configuration
interface OutlookSyncStatusResponse {
  integration: OutlookIntegration;
  syncStats: {
    totalEvents: number;
    syncedEvents: number;
    pendingEvents: number;
    conflictedEvents: number;
    lastFullSync: string;
    nextScheduledSync: string;
  };
  recentSyncHistory: OutlookSyncHistoryItem[];
  webhookStatus: {
    isActive: boolean;
    subscriptionId?: string;
    expiresAt?: string;
    renewalNeeded: boolean;
  };
}

interface OutlookSyncHistoryItem {
  id: string;
  syncType: 'full_sync' | 'incremental' | 'single_event' | 'webhook_triggered';
  syncDirection: string;
  eventsProcessed: number;
  eventsCreated: number;
  eventsUpdated: number;
  eventsDeleted: number;
  conflictsDetected: number;
  syncStatus: 'in_progress' | 'completed' | 'failed' | 'cancelled';
  syncDurationMs: number;
  startedAt: string;
  completedAt?: string;
  triggeredBy: string;
  errors?: any[];
}

// POST /api/calendar/outlook/sync
// Trigger manual sync operation
interface OutlookSyncRequest {
  syncType?: 'full_sync' | 'incremental';
  syncDirection?: 'to_outlook' | 'from_outlook' | 'bidirectional';
  specificEvents?: string[]; // Sync only these WedSync event IDs
}

interface OutlookSyncResponse {
  syncId: string;
  status: 'started' | 'queued';
  estimatedDuration: number; // seconds
  eventsToProcess: number;
}

// GET /api/calendar/outlook/sync/{syncId}
// Get status of specific sync operation
interface OutlookSyncJobResponse {
  syncId: string;
  status: 'in_progress' | 'completed' | 'failed' | 'cancelled';
  progress: {
    totalEvents: number;
    processedEvents: number;
    createdEvents: number;
    updatedEvents: number;
    deletedEvents: number;
    errorEvents: number;
  };
  errors?: SyncError[];
  startedAt: string;
  completedAt?: string;
  estimatedTimeRemaining?: number;
}

interface SyncError {
  eventId: string;
  eventType: string;
  errorCode: string;
  errorMessage: string;
  retryable: boolean;
}

// GET /api/calendar/outlook/events
// Get synced events and their mapping status
interface OutlookEventsResponse {
  events: OutlookMappedEvent[];
  pagination: {
    page: number;
    totalPages: number;
    totalEvents: number;
  };
  filters: {
    eventTypes: string[];
    syncStatuses: string[];
    dateRange?: {
      start: string;
      end: string;
    };
  };
}

interface OutlookMappedEvent {
  wedSyncEventId: string;
  wedSyncEventType: string;
  wedSyncEventTitle: string;
  wedSyncEventDate: string;
  outlookEventId: string;
  outlookEventTitle: string;
  outlookEventDate: string;
  syncStatus: 'synced' | 'pending' | 'conflict' | 'error';
  lastSynced: string;
  syncConflicts?: SyncConflict[];
  canResync: boolean;
}

interface SyncConflict {
  field: string;
  wedSyncValue: any;
  outlookValue: any;
  conflictType: 'date_time' | 'title' | 'description' | 'attendees' | 'location';
  suggestedResolution: 'use_wedsync' | 'use_outlook' | 'manual_review';
}

// POST /api/calendar/outlook/events/{eventId}/resolve
// Resolve sync conflicts for specific event
interface ResolveConflictRequest {
  resolutions: Record<string, {
    useValue: 'wedsync' | 'outlook' | 'custom';
    customValue?: any;
  }>;
  setAsDefault?: boolean; // Apply resolution rule to future similar conflicts
}

// POST /api/calendar/outlook/events/{eventId}/force-sync
// Force sync single event (override normal sync rules)
interface ForceSyncEventRequest {
  direction: 'to_outlook' | 'from_outlook';
  overwriteConflicts?: boolean;
}

// PUT /api/calendar/outlook/settings
// Update sync preferences and configuration
interface UpdateOutlookSettingsRequest {
  calendarId?: string; // Change which calendar to sync with
  syncDirection?: 'to_outlook' | 'from_outlook' | 'bidirectional';
  syncPreferences?: Partial<OutlookSyncPreferences>;
  syncEnabled?: boolean;
  webhookEnabled?: boolean;
}

interface UpdateOutlookSettingsResponse {
  integration: OutlookIntegration;
  webhookSubscriptionUpdated: boolean;
  syncScheduleChanged: boolean;
  requiresFullResync: boolean;
}

// DELETE /api/calendar/outlook/integration
// Remove Outlook integration and clean up
interface RemoveIntegrationResponse {
  success: boolean;
  eventsDeleted: number; // Events removed from Outlook
  mappingsDeleted: number; // Sync mappings removed
  webhookUnsubscribed: boolean;
}

// POST /api/calendar/outlook/webhook
// Handle Microsoft Graph webhook notifications
interface OutlookWebhookNotification {
  value: OutlookWebhookChange[];
}

interface OutlookWebhookChange {
  changeType: 'created' | 'updated' | 'deleted';
  clientState: string; // Validation token
  resource: string; // Event resource URL
  resourceData: {
    '@odata.type': string;
    '@odata.id': string;
    '@odata.etag': string;
    id: string;
  };
  subscriptionExpirationDateTime: string;
  subscriptionId: string;
  tenantId: string;
}
