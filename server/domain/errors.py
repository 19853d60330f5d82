"""The one exception the domain raises for a refused change: a code, a message, context."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message
from tandem.v1 import entities_pb2, errors_pb2

ErrorCode = errors_pb2.ErrorCode


class DomainError(Exception):
    """A change or query the domain refuses. Nothing was written."""

    def __init__(
        self,
        code: errors_pb2.ErrorCode.ValueType,
        message: str,
        *,
        field: str = "",
        current: Message | None = None,
        conflicting_fields: Sequence[str] = (),
        retry_after_ms: int = 0,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.current = current
        self.conflicting_fields = tuple(conflicting_fields)
        self.retry_after_ms = retry_after_ms

    def to_proto(self) -> errors_pb2.Error:
        err = errors_pb2.Error(
            code=self.code,
            message=self.message,
            field=self.field,
            retry_after_ms=self.retry_after_ms,
            conflicting_fields=self.conflicting_fields,
        )
        cur = self.current
        if isinstance(cur, entities_pb2.Task):
            err.current_task.CopyFrom(cur)
        elif isinstance(cur, entities_pb2.Sprint):
            err.current_sprint.CopyFrom(cur)
        elif isinstance(cur, entities_pb2.Project):
            err.current_project.CopyFrom(cur)
        elif isinstance(cur, entities_pb2.Comment):
            err.current_comment.CopyFrom(cur)
        return err

    def __repr__(self) -> str:
        name = errors_pb2.ErrorCode.Name(self.code)
        return f"DomainError({name}, {self.message!r})"


def not_found(what: str, ident: str) -> DomainError:
    return DomainError(ErrorCode.ERROR_CODE_NOT_FOUND, f"{what} {ident!r} does not exist")


def invalid(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message, field=field)


def precondition(message: str) -> DomainError:
    return DomainError(ErrorCode.ERROR_CODE_FAILED_PRECONDITION, message)
