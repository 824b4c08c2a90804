"""gunicorn settings for WedSync (read from the working directory; docker-compose and the Dockerfile pass it).

The access log leaves out query strings and the Referer header: the OAuth
callback carries ``code`` and ``state`` in its query, and pages after it would
carry them in their Referer.
"""
accesslog = "-"
#: host, time, method, path without query (%(U)s), protocol, status, bytes, user agent, duration in ms.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s "%(a)s" %(M)sms'
