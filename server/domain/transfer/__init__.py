"""Moving a workspace in and out: the export document, and importers of other tools' files.

Every importer reads its file into the one neutral plan, a ``tandem.v1.WorkspaceExport``
(the same document ``tandem export`` writes), and ``apply`` writes a plan in the caller's
transaction, in bulk: all of it or, on the first bad value, nothing. Foreign ids in a plan
are only references inside it; ``apply`` gives every row a fresh id unless it keeps a
Tandem export's own.
"""
