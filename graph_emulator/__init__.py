"""graph_emulator: a local stand-in for the Microsoft identity platform (v2 OAuth
endpoints) and the Microsoft Graph calendar API.

It is a separate process (``python -m graph_emulator``) so that the real
``msal`` package and the project's ``requests``-based Graph client talk to it
over real HTTP(S), exactly as they would talk to Microsoft. It must never
import Django or anything from the project. See README.md.
"""

__version__ = "1.0.0"
