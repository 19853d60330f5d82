"""Your data is yours: backups (now, and daily while running), restore, export and import
from the command line. The document and the importers are the domain's
(``server.domain.transfer``); this package handles files, folders and the running server.
"""
