"""What a connection says and how the server answers: one registry of command handlers.

Every client message is first checked as an envelope (rate limit, a known client
payload, hello first), then handed to its handler. Hello, subscriptions and presence
are the session's own commands, handled here; every other command of the command table
(``server.command_table``) goes to the domain, which owns validation, permissions and
idempotency. Every command gets exactly one answer: an Ack or a Reject carrying its
message_id.

A domain command (the bulk of the traffic) is served without a task or a coroutine: it is
checked and queued for the group commit in the pass that read it, and its answer is
encoded and written by a callback of the commit's future (``Session.receive``); its ack
is joined as bytes around the encoded ``Ack``, not copied into an envelope first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace

from tandem.v1 import commands_pb2, errors_pb2, websocket_pb2

import server
from server.command_table import COMMAND_TABLE
from server.domain.errors import DomainError
from server.monitoring.logs import bind_connection
from server.realtime.codec import Outgoing, WebSocketMessage
from server.realtime.connection import ANSWERING, Answering, Connection
from server.realtime.hub import Hub
from server.realtime.identity import (
    Handshake,
    is_local,
    only_local,
    recolored,
    renamed,
    resolve_identity,
)
from server.realtime.protocol import MAX_ID_LENGTH, PROTOCOL_VERSION, CloseCode
from server.realtime.subscription import Subscription
from server.wire import varint

log = logging.getLogger(__name__)

ErrorCode = errors_pb2.ErrorCode


def _tag(name: str) -> bytes:
    """The tag of a length-delimited field of WebSocketMessage."""
    return varint(WebSocketMessage.DESCRIPTOR.fields_by_name[name].number << 3 | 2)


_SNAPSHOT_TAG = _tag("snapshot")
_MESSAGE_ID_TAG = _tag("message_id")
_ACK_TAG = _tag("ack")
_REJECT_TAG = _tag("reject")


def answer_frame(message_id: str, tag: bytes, payload: bytes) -> bytes:
    """An encoded WebSocketMessage of ``message_id`` and one payload member (its ``tag``)
    already encoded: the bytes ``SerializeToString`` gives (fields in number order,
    message_id left out when empty), without copying the payload into an envelope."""
    mid = message_id.encode()
    head = _MESSAGE_ID_TAG + varint(len(mid)) + mid if mid else b""
    return head + tag + varint(len(payload)) + payload


#: How many change-log events one replay read fetches.
REPLAY_PAGE = 1000


def error(code: ErrorCode.ValueType, message: str, **extra: object) -> errors_pb2.Error:
    return errors_pb2.Error(code=code, message=message, **extra)  # type: ignore[arg-type]


Handler = Callable[["Session", WebSocketMessage], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register a session command's handler (one the session answers itself)."""
    if kind not in COMMAND_TABLE:
        raise RuntimeError(f"{kind!r} is not a command of the schema's command table")

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


class Session:
    """The protocol state of one connection."""

    __slots__ = ("_charge", "_rejected", "conn", "handshake", "hub", "local")

    def __init__(self, hub: Hub, conn: Connection, handshake: Handshake) -> None:
        self.hub = hub
        self.conn = conn
        # The upgrade, until a hello has read its credential: then it is let go (an idle
        # connection keeps no request); whether it came from this machine stays.
        self.handshake: Handshake | None = handshake
        self.local = is_local(handshake)
        # A connection's first message (its hello) is free, so a connection that only
        # said hello holds no rate-limit state.
        self._charge = False
        # The error code of this command's reject, if it got one (for the metrics).
        self._rejected = ""

    async def reply(self, message_id: str, **payload: object) -> None:
        msg = WebSocketMessage(message_id=message_id, **payload)  # type: ignore[arg-type]
        await self.conn.send(msg)

    async def reject(self, message_id: str, err: errors_pb2.Error) -> None:
        self._rejected = ErrorCode.Name(err.code)
        await self.reply(message_id, reject=websocket_pb2.Reject(error=err))

    def receive(self, msg: WebSocketMessage) -> Coroutine[object, object, None] | Answering | None:
        """Answer one client envelope: a domain command from an identified connection
        without a task (``ANSWERING``: the connection is told when its answer is out),
        anything else as the returned coroutine; None when answered at once."""
        kind = msg.WhichOneof("payload")
        conn = self.conn
        identity = conn.identity
        if (
            kind not in DOMAIN_COMMANDS
            or identity is None
            or not self._charge
            or not conn.open
            or len(msg.message_id) > MAX_ID_LENGTH
        ):
            return self.handle(msg)
        retry_ms = conn.take_token()
        if retry_ms:
            return self.handle(msg, retry_ms=retry_ms)
        assert kind is not None
        metrics = self.hub.metrics
        started = time.perf_counter() if metrics is not None else 0.0
        mid = msg.message_id
        try:
            answer = self.hub.domain.submit(identity.actor, getattr(msg, kind), mid)
        except DomainError as exc:
            # Refused as sent (before any group): answered now, or once there is room.
            return self._answer(kind, mid, started, None, exc)

        def settled(answer: asyncio.Future[websocket_pb2.Ack]) -> None:
            ack: websocket_pb2.Ack | None = None
            refused: DomainError | None = None
            try:
                ack = answer.result()
            except DomainError as exc:
                refused = exc
            except Exception:
                log.exception("handling %s on connection %s failed", kind, conn.id)
                refused = DomainError(ErrorCode.ERROR_CODE_INTERNAL, "internal error")
            try:
                later = self._answer(kind, mid, started, ack, refused)
            except Exception:
                # Not the command's fault: the connection's state is unknown (as a task's
                # failure would leave it), so it ends; it must not wait for this forever.
                log.exception("answering %s on connection %s failed", kind, conn.id)
                conn.abort(CloseCode.INTERNAL_ERROR, "internal error")
                later = None
            if later is None:
                conn.answered()
            else:
                conn.answer_later(later)

        answer.add_done_callback(settled)
        return ANSWERING

    def _answer(
        self,
        kind: str,
        mid: str,
        started: float,
        ack: websocket_pb2.Ack | None,
        refused: DomainError | None,
    ) -> Coroutine[object, object, None] | None:
        """A domain command's answer, written (or queued) now: None; when the connection's
        queue is full, the coroutine that waits for room to write it."""
        if refused is None:
            assert ack is not None
            code, payload_kind = "", "ack"
            frame = answer_frame(mid, _ACK_TAG, ack.SerializeToString())
        else:
            err = refused.to_proto()
            code, payload_kind = ErrorCode.Name(err.code), "reject"
            reject = websocket_pb2.Reject(error=err)
            frame = answer_frame(mid, _REJECT_TAG, reject.SerializeToString())
        if not self.conn.reply_now(frame, payload_kind):
            return self._answer_when_room(kind, code, started, frame)
        metrics = self.hub.metrics
        if metrics is not None:
            metrics.command_done("ws", kind, code, time.perf_counter() - started)
        return None

    async def _answer_when_room(self, kind: str, code: str, started: float, frame: bytes) -> None:
        await self.conn.send_out(Outgoing(frame))
        metrics = self.hub.metrics
        if metrics is not None:
            metrics.command_done("ws", kind, code, time.perf_counter() - started)

    async def handle(self, msg: WebSocketMessage, *, retry_ms: int | None = None) -> None:
        """Answer one client envelope. Never raises for anything the client sent.

        ``retry_ms``: the rate limit's answer when the caller already asked it."""
        metrics = self.hub.metrics
        if metrics is None:
            await self._handle(msg, retry_ms)
            return
        started = time.perf_counter()
        self._rejected = ""
        await self._handle(msg, retry_ms)
        kind = msg.WhichOneof("payload") or "none"
        metrics.command_done("ws", kind, self._rejected, time.perf_counter() - started)

    async def _handle(self, msg: WebSocketMessage, retry_ms: int | None) -> None:
        kind = msg.WhichOneof("payload")
        mid = msg.message_id
        if retry_ms is None:
            retry_ms = self.conn.take_token() if self._charge else 0
        self._charge = True
        if retry_ms:
            await self.reject(
                mid,
                error(
                    ErrorCode.ERROR_CODE_RATE_LIMITED,
                    "too many messages; slow down",
                    retry_after_ms=retry_ms,
                ),
            )
            return
        if len(mid) > MAX_ID_LENGTH:
            # Refused before anything reads or remembers it: an id is a key, not a payload.
            await self.reject(
                mid,
                error(
                    ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
                    f"message_id is longer than {MAX_ID_LENGTH} characters",
                    field="message_id",
                ),
            )
            return
        handler = HANDLERS.get(kind) if kind is not None else None
        if handler is None:
            what = f"{kind!r} is sent by the server, not a client" if kind else "no known payload"
            await self.reject(mid, error(ErrorCode.ERROR_CODE_UNSUPPORTED, what))
            return
        if self.conn.identity is None and kind != "hello":
            await self.reject(
                mid, error(ErrorCode.ERROR_CODE_FAILED_PRECONDITION, "send hello first")
            )
            return
        try:
            await handler(self, msg)
        except DomainError as exc:
            await self.reject(mid, exc.to_proto())
        except Exception:
            log.exception("handling %s on connection %s failed", kind, self.conn.id)
            await self.reject(mid, error(ErrorCode.ERROR_CODE_INTERNAL, "internal error"))


def _check_id(name: str, value: str, *, required: bool) -> None:
    if required and not value:
        raise DomainError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, f"{name} is required", field=name)
    if len(value) > MAX_ID_LENGTH:
        raise DomainError(
            ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
            f"{name} is longer than {MAX_ID_LENGTH} characters",
            field=name,
        )


@handles("hello")
async def on_hello(session: Session, msg: WebSocketMessage) -> None:
    hello = msg.hello
    conn = session.conn
    if conn.identity is not None:
        raise DomainError(ErrorCode.ERROR_CODE_FAILED_PRECONDITION, "hello was already said")
    if hello.protocol_version != PROTOCOL_VERSION:
        raise DomainError(
            ErrorCode.ERROR_CODE_UNSUPPORTED,
            f"this server speaks protocol version {PROTOCOL_VERSION}, not {hello.protocol_version}",
            field="protocol_version",
        )
    _check_id("client_id", hello.client_id, required=False)
    if len(hello.client_name) > 200 or len(hello.display_name) > 200:
        raise DomainError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "names are limited to 200 chars")
    try:
        handshake = session.handshake
        assert handshake is not None  # let go only once a hello succeeded
        identity = await resolve_identity(handshake, hello, session.hub.domain, conn.id)
    except DomainError as exc:
        if exc.code in (
            ErrorCode.ERROR_CODE_UNAUTHENTICATED,
            ErrorCode.ERROR_CODE_PERMISSION_DENIED,
        ):
            await session.reject(msg.message_id, exc.to_proto())
            code = (
                CloseCode.UNAUTHENTICATED
                if exc.code == ErrorCode.ERROR_CODE_UNAUTHENTICATED
                else CloseCode.FORBIDDEN
            )
            conn.close_after_flush(code, exc.message)
            return
        raise
    if not conn.open:
        return  # closed (revoked, timed out) while the identity was looked up
    conn.identity = identity
    session.handshake = None
    bind_connection(conn.id, identity.member.id)
    welcome = commands_pb2.Welcome(
        server_version=server.__version__,
        protocol_version=PROTOCOL_VERSION,
        member=identity.member,
        connection_id=conn.id,
        heartbeat_interval_ms=int(session.hub.config.heartbeat_seconds * 1000),
    )
    await session.reply(msg.message_id, ack=websocket_pb2.Ack(welcome=welcome))
    session.hub.identified(conn)


async def on_domain_command(session: Session, msg: WebSocketMessage) -> None:
    identity = session.conn.identity
    assert identity is not None
    if not session.conn.open:
        return  # closed (revoked) while this command waited: apply nothing
    kind = msg.WhichOneof("payload")
    assert kind is not None
    ack = await session.hub.domain.command(identity.actor, getattr(msg, kind), msg.message_id)
    await session.reply(msg.message_id, ack=ack)


@handles("subscribe")
async def on_subscribe(session: Session, msg: WebSocketMessage) -> None:
    req = msg.subscribe
    mid = msg.message_id
    conn, hub = session.conn, session.hub
    domain = hub.domain
    _check_id("message_id", mid, required=True)
    _check_id("project_id", req.project_id, required=True)
    _check_id("sprint_id", req.sprint_id, required=False)
    if mid in conn.subscriptions:
        raise DomainError(
            ErrorCode.ERROR_CODE_ALREADY_EXISTS, f"subscription {mid!r} exists", field="message_id"
        )
    existing = hub.subscription_for(conn, req.project_id)
    if existing is not None:
        raise DomainError(
            ErrorCode.ERROR_CODE_ALREADY_EXISTS,
            f"already subscribed to this project by {existing.id!r}; unsubscribe first",
            field="project_id",
        )
    # An unknown project is NOT_FOUND: from the snapshot or replay read below (which read
    # the project first), so a join costs no read of its own; with a sprint, from here.
    if req.sprint_id:
        await domain.read(domain.get_project, req.project_id)
        sprint = await domain.read(domain.get_sprint, req.sprint_id)
        if sprint.project_id != req.project_id:
            raise DomainError(
                ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
                "the sprint belongs to another project",
                field="sprint_id",
            )
    sub = Subscription(id=mid, project_id=req.project_id, conn=conn, sprint_id=req.sprint_id)
    # Listen first, read second: a commit between the two is both read and held in
    # sub.pending, and the seq check drops the copy.
    hub.add_subscription(sub)
    try:
        await hub.project_ready(req.project_id)
        if req.HasField("since_seq"):
            await _resume(session, sub, mid, req)
        else:
            await _send_snapshot(session, sub, mid, resync_reason="")
    except BaseException:
        hub.remove_subscription(sub)
        raise
    if sub.conn.subscriptions.get(sub.id) is sub:
        hub.subscription_live(sub)


async def _resume(
    session: Session, sub: Subscription, mid: str, req: commands_pb2.Subscribe
) -> None:
    domain = session.hub.domain
    since = req.since_seq
    page = await domain.read(domain.events_since, sub.project_id, since, REPLAY_PAGE)
    metrics = session.hub.metrics
    if metrics is not None:
        metrics.resumes += 1
    reason = key = ""
    if page.resync_required:
        reason, key = "since_seq is outside the kept change log", "outside_log"
    elif req.epoch and req.epoch != page.epoch:
        reason, key = "the change log was restored (epoch changed)", "epoch_changed"
    if reason:
        if metrics is not None:
            metrics.resyncs[key] += 1
        await _send_snapshot(session, sub, mid, resync_reason=reason)
        return
    result = websocket_pb2.SubscribeResult(
        project_id=sub.project_id, epoch=page.epoch, head_seq=page.head_seq
    )
    await session.reply(mid, ack=websocket_pb2.Ack(subscribed=result))
    sub.last_seq = since
    while True:
        for event in page.events:
            seq = _seq_of(event)
            if seq <= sub.last_seq:
                continue
            await sub.conn.send_out(Outgoing.of(event))
            sub.last_seq = seq
            if metrics is not None:
                metrics.replayed += 1
        if len(page.events) < REPLAY_PAGE or not sub.conn.open:
            return
        page = await domain.read(domain.events_since, sub.project_id, sub.last_seq, REPLAY_PAGE)
        if page.resync_required:  # the history was trimmed under a very long replay
            if metrics is not None:
                metrics.resyncs["trimmed"] += 1
            await _send_snapshot(session, sub, mid, resync_reason="history trimmed during replay")
            return


async def _send_snapshot(session: Session, sub: Subscription, mid: str, resync_reason: str) -> None:
    sub.expect_snapshot()
    snapshot = await session.hub.snapshot(sub.project_id)
    result = websocket_pb2.SubscribeResult(
        project_id=sub.project_id,
        epoch=snapshot.epoch,
        head_seq=snapshot.seq,
        snapshot_follows=True,
    )
    ack = Outgoing.of(WebSocketMessage(message_id=mid, ack=websocket_pb2.Ack(subscribed=result)))
    if resync_reason:
        await session.conn.send_out(ack)
        resync = websocket_pb2.ResyncRequired(project_id=sub.project_id, reason=resync_reason)
        ack = Outgoing.of(WebSocketMessage(message_id=mid, resync_required=resync))
    # The snapshot and the presence entries arrive encoded (see Hub.snapshot and
    # Hub.presence_in): appended to the encoded snapshot the entries are its repeated
    # presence field, so the frame is built by joining bytes.
    body = snapshot.body + session.hub.presence_in(sub.project_id, sub)
    sub.presence_from_snapshot = False  # from here on, presence changes are news to it
    frame = WebSocketMessage(message_id=mid).SerializeToString() + _SNAPSHOT_TAG
    # Live events older than the snapshot are dropped by this.
    sub.last_seq = snapshot.seq
    # The answer and the snapshot go out in one write (the client reads them in order).
    await session.conn.send_together(ack, Outgoing(frame + varint(len(body)) + body))


def _seq_of(event: WebSocketMessage) -> int:
    kind = event.WhichOneof("payload")
    if kind is None:
        return 0
    return int(getattr(getattr(event, kind), "seq", 0))


@handles("unsubscribe")
async def on_unsubscribe(session: Session, msg: WebSocketMessage) -> None:
    sub_id = msg.unsubscribe.subscription_id
    sub = session.conn.subscriptions.get(sub_id)
    if sub is None:
        raise DomainError(
            ErrorCode.ERROR_CODE_NOT_FOUND,
            f"no subscription {sub_id!r} on this connection",
            field="subscription_id",
        )
    session.hub.remove_subscription(sub)
    await session.reply(msg.message_id, ack=websocket_pb2.Ack())


@handles("update_presence")
async def on_update_presence(session: Session, msg: WebSocketMessage) -> None:
    req = msg.update_presence
    for name in ("project_id", "viewing_sprint_id", "viewing_task_id", "editing_field"):
        _check_id(name, getattr(req, name), required=name == "project_id")
    sub = session.hub.subscription_for(session.conn, req.project_id)
    if sub is None or not sub.live:
        raise DomainError(
            ErrorCode.ERROR_CODE_FAILED_PRECONDITION,
            "subscribe to the project before sending presence for it",
            field="project_id",
        )
    sub.sprint_id = req.viewing_sprint_id
    sub.viewing_task_id = req.viewing_task_id
    sub.editing_field = req.editing_field
    sub.typing_comment = req.typing_comment and bool(req.viewing_task_id)
    session.hub.update_presence(sub)
    await session.reply(msg.message_id, ack=websocket_pb2.Ack())


@handles("update_profile")
async def on_update_profile(session: Session, msg: WebSocketMessage) -> None:
    """A new name, at once for everyone viewing a project with this person: every connection
    of the member (its other tabs too) shows it in its next presence."""
    identity = session.conn.identity
    assert identity is not None
    name, color = msg.update_profile.display_name, msg.update_profile.color
    if len(name) > 200:
        raise DomainError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, "names are limited to 200 chars")
    hub = session.hub
    client_id = identity.actor.client_key
    new = identity
    rename = bool(name or not color)  # a colour alone keeps the name
    only_local(session.local, *(["name"] if rename else []), *(["colour"] if color else []))
    if rename:
        new = await renamed(session.local, new, client_id, name, hub.domain)
    if color:
        new = await recolored(session.local, new, client_id, color, hub.domain)
    for conn in hub.member_connections(identity.member.id):
        assert conn.identity is not None
        conn.identity = replace(conn.identity, member=new.member)
        for sub in conn.subscriptions.values():
            if sub.live:
                hub.update_presence(sub)
    await session.reply(msg.message_id, ack=websocket_pb2.Ack())


#: The commands the session answers itself; every other command goes to the domain.
SESSION_COMMANDS = frozenset(HANDLERS)
for _kind in COMMAND_TABLE:
    HANDLERS.setdefault(_kind, on_domain_command)
#: The commands the domain answers (see ``Session.receive``).
DOMAIN_COMMANDS = frozenset(COMMAND_TABLE) - SESSION_COMMANDS
