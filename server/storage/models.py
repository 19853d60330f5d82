"""peewee models over the tables that ``migrations`` creates (the models never create tables)."""

from __future__ import annotations

import peewee as pw

database = pw.DatabaseProxy()


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class MetaRow(BaseModel):
    key = pw.TextField(primary_key=True)
    value = pw.TextField()

    class Meta:
        table_name = "meta"


class MemberRow(BaseModel):
    id = pw.TextField(primary_key=True)
    display_name = pw.TextField()
    color = pw.TextField()
    role = pw.IntegerField()
    client_id = pw.TextField(null=True, unique=True)
    created_at = pw.IntegerField()

    class Meta:
        table_name = "member"


class ProjectRow(BaseModel):
    id = pw.TextField(primary_key=True)
    key = pw.TextField(unique=True)
    name = pw.TextField()
    description = pw.TextField(default="")
    next_task_number = pw.IntegerField(default=1)
    version = pw.IntegerField()
    field_versions = pw.TextField(default="{}")
    created_at = pw.IntegerField()
    updated_at = pw.IntegerField()
    # The workflow's columns as JSON; "" for the five default ones (domain/columns.py).
    columns = pw.TextField(default="")

    class Meta:
        table_name = "project"


class LogHeadRow(BaseModel):
    project_id = pw.TextField(primary_key=True)
    head_seq = pw.IntegerField()
    floor_seq = pw.IntegerField()

    class Meta:
        table_name = "log_head"


class SprintRow(BaseModel):
    id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    name = pw.TextField()
    goal = pw.TextField(default="")
    state = pw.IntegerField()
    start_date = pw.TextField(default="")
    end_date = pw.TextField(default="")
    version = pw.IntegerField()
    field_versions = pw.TextField(default="{}")
    created_at = pw.IntegerField()
    updated_at = pw.IntegerField()
    completed_at = pw.IntegerField(null=True)
    capacity = pw.IntegerField(null=True)

    class Meta:
        table_name = "sprint"


class TaskRow(BaseModel):
    id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    number = pw.IntegerField()
    title = pw.TextField()
    description = pw.TextField(default="")
    status = pw.IntegerField()
    priority = pw.IntegerField()
    assignee_id = pw.TextField(null=True)
    story_points = pw.IntegerField(null=True)
    labels = pw.TextField(default="[]")
    due_date = pw.TextField(default="")
    sprint_id = pw.TextField(null=True)
    parent_task_id = pw.TextField(null=True)
    rank = pw.TextField()
    version = pw.IntegerField()
    field_versions = pw.TextField(default="{}")
    created_at = pw.IntegerField()
    updated_at = pw.IntegerField()
    # The workflow column; "" for the first column of its status.
    column_id = pw.TextField(default="")

    class Meta:
        table_name = "task"


class CommentRow(BaseModel):
    id = pw.TextField(primary_key=True)
    task_id = pw.TextField()
    project_id = pw.TextField()
    author_id = pw.TextField()
    body = pw.TextField()
    version = pw.IntegerField()
    created_at = pw.IntegerField()
    edited_at = pw.IntegerField(null=True)

    class Meta:
        table_name = "comment"


class EventRow(BaseModel):
    project_id = pw.TextField()
    seq = pw.IntegerField()
    kind = pw.TextField()
    frame = pw.BlobField()
    created_at = pw.IntegerField()

    class Meta:
        table_name = "event"
        primary_key = pw.CompositeKey("project_id", "seq")


class AppliedRequestRow(BaseModel):
    # SHA-256 of the scoped request id: a fixed size, however long the id.
    key = pw.BlobField(primary_key=True)
    member_id = pw.TextField()
    answer = pw.BlobField()
    is_error = pw.BooleanField()
    created_at = pw.IntegerField()
    fingerprint = pw.BlobField(null=True)
    # What the row costs on disk, roughly: counted against the member's budget.
    size = pw.IntegerField()

    class Meta:
        table_name = "applied_request"


class InviteRow(BaseModel):
    id = pw.TextField(primary_key=True)
    member_id = pw.TextField()
    role = pw.IntegerField()
    token_hash = pw.BlobField(unique=True)
    created_at = pw.IntegerField()
    revoked_at = pw.IntegerField(null=True)
    last_used_at = pw.IntegerField(null=True)

    class Meta:
        table_name = "invite"


class SessionRow(BaseModel):
    id = pw.TextField(primary_key=True)
    invite_id = pw.TextField()
    secret_hash = pw.BlobField(unique=True)
    created_at = pw.IntegerField()
    last_used_at = pw.IntegerField(null=True)

    class Meta:
        table_name = "session"


class TaskTrashRow(BaseModel):
    task_id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    deleted_at = pw.IntegerField()
    deleted_by = pw.TextField()
    task_count = pw.IntegerField()
    comment_count = pw.IntegerField()
    # JSON: {"tasks": [column dicts, the deleted task first], "comments": [...]}
    rows = pw.TextField()

    class Meta:
        table_name = "task_trash"


class CommentTrashRow(BaseModel):
    comment_id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    deleted_at = pw.IntegerField()
    deleted_by = pw.TextField()
    row = pw.TextField()

    class Meta:
        table_name = "comment_trash"


class TrashFileRow(BaseModel):
    """The content hash of an attachment of a trash entry (a task's or a comment's)."""

    sha256 = pw.TextField()
    task_id = pw.TextField(null=True)
    comment_id = pw.TextField(null=True)

    class Meta:
        table_name = "trash_file"
        primary_key = False


class TaskArchiveRow(BaseModel):
    task_id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    archived_at = pw.IntegerField()
    archived_by = pw.TextField()
    sprint_id = pw.TextField(null=True)

    class Meta:
        table_name = "task_archive"


class SprintArchiveRow(BaseModel):
    sprint_id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    archived_at = pw.IntegerField()
    archived_by = pw.TextField()

    class Meta:
        table_name = "sprint_archive"


class ProjectTrashRow(BaseModel):
    project_id = pw.TextField(primary_key=True)
    deleted_at = pw.IntegerField()
    deleted_by = pw.TextField()

    class Meta:
        table_name = "project_trash"


class SearchDocRow(BaseModel):
    """One indexed task or comment: its stable id in the full-text index ``search_text``."""

    doc = pw.AutoField()
    entity_id = pw.TextField(unique=True)
    kind = pw.TextField()
    task_id = pw.TextField()
    project_id = pw.TextField()

    class Meta:
        table_name = "search_doc"


class LabelRow(BaseModel):
    """A label's colour in a project; ``id`` is the project id and the label in lower case."""

    id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    name = pw.TextField()
    color = pw.TextField()

    class Meta:
        table_name = "label"


class SprintLedgerTaskRow(BaseModel):
    """A task as the sprint ledger last saw it (kept after the task is deleted)."""

    task_id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    sprint_id = pw.TextField(null=True)
    points = pw.IntegerField()
    done = pw.IntegerField()
    task_key = pw.TextField()
    title = pw.TextField()

    class Meta:
        table_name = "sprint_ledger_task"


class SprintFactRow(BaseModel):
    """One fact of a sprint's record, in commit order (see domain/sprint_ledger.py)."""

    id = pw.AutoField()
    project_id = pw.TextField()
    sprint_id = pw.TextField()
    task_id = pw.TextField()
    at = pw.IntegerField()
    kind = pw.TextField()
    points = pw.IntegerField()
    done = pw.IntegerField()

    class Meta:
        table_name = "sprint_fact"


class SprintRecordRow(BaseModel):
    """A completed sprint's record, frozen (a serialized tandem.v1.SprintReport)."""

    sprint_id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    completed_at = pw.IntegerField()
    report = pw.BlobField()

    class Meta:
        table_name = "sprint_record"


class TaskWatchRow(BaseModel):
    task_id = pw.TextField()
    member_id = pw.TextField()
    created_at = pw.IntegerField()

    class Meta:
        table_name = "task_watch"
        primary_key = pw.CompositeKey("task_id", "member_id")


class InboxItemRow(BaseModel):
    id = pw.AutoField()
    member_id = pw.TextField()
    kind = pw.IntegerField()
    project_id = pw.TextField()
    task_id = pw.TextField()
    task_key = pw.TextField()
    task_title = pw.TextField()
    actor_id = pw.TextField(default="")
    excerpt = pw.TextField(default="")
    changed_fields = pw.TextField(default="[]")
    seq = pw.IntegerField(default=0)
    due_date = pw.TextField(default="")
    source = pw.TextField()
    once_key = pw.TextField()
    created_at = pw.IntegerField()
    read_at = pw.IntegerField(null=True)

    class Meta:
        table_name = "inbox_item"
        indexes = ((("member_id", "once_key"), True),)


class InboxCursorRow(BaseModel):
    """How far the inbox has made items from a project's change log (see domain.inbox)."""

    project_id = pw.TextField(primary_key=True)
    seq = pw.IntegerField()

    class Meta:
        table_name = "inbox_cursor"


class AttachmentRow(BaseModel):
    id = pw.TextField(primary_key=True)
    project_id = pw.TextField()
    task_id = pw.TextField()
    comment_id = pw.TextField(null=True)
    name = pw.TextField()
    content_type = pw.TextField()
    size = pw.IntegerField()
    sha256 = pw.TextField()
    width = pw.IntegerField(default=0)
    height = pw.IntegerField(default=0)
    author_id = pw.TextField()
    created_at = pw.IntegerField()

    class Meta:
        table_name = "attachment"


def put(model: type[BaseModel], **values: object) -> None:
    """Insert a row, or replace the one with its primary key: the upsert both databases
    spell alike (SQLite's ``INSERT OR REPLACE`` is SQLite's own)."""
    meta = model._meta
    key = meta.primary_key
    others = [f for name, f in meta.fields.items() if name in values and f is not key]
    model.insert(**values).on_conflict(conflict_target=[key], preserve=others).execute()
