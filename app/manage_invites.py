"""The "Manage invites…" dialog: who was invited, when they last came, and revoking them.

Revoking asks first, then ends that person's access at once: the server closes their
connections and their link and cookie stop working. The list is read again after every
change, so what is shown is what the database holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from server.handle import Invite

ListInvites = Callable[[], list[Invite]]
RevokeInvite = Callable[[str], None]

COLUMNS = ("Name", "Role", "Created", "Last used", "Status", "")
NAME, ROLE, CREATED, LAST_USED, STATUS, ACTION = range(len(COLUMNS))


def when(micros: int | None, never: str = "Never") -> str:
    """A moment in the computer's local time, to the minute."""
    if micros is None:
        return never
    return dt.datetime.fromtimestamp(micros / 1_000_000).strftime("%Y-%m-%d %H:%M")


def status_text(invite: Invite) -> str:
    return "Active" if invite.active else f"Revoked {when(invite.revoked_at)}"


class ManageInvitesDialog(QDialog):
    def __init__(
        self,
        list_invites: ListInvites,
        revoke: RevokeInvite,
        *,
        icon: QIcon | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._list = list_invites
        self._revoke = revoke
        self.invites: list[Invite] = []
        # The open "Revoke …?" question, if any (non-modal to the rest of the desktop).
        self.confirmation: QMessageBox | None = None
        self.setWindowTitle("Invites")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setMinimumWidth(640)

        intro = QLabel(
            "Everyone you invited to your board. Revoking an invite disconnects that "
            "person at once; their link stops working. What they did stays on the board."
        )
        intro.setWordWrap(True)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        rows = self.table.verticalHeader()
        rows.setVisible(False)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)

        self.empty = QLabel("No invites yet. “Invite someone…” in the tray menu makes one.")
        self.empty.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.reload()

    def reload(self) -> None:
        """Read the invites again and show them."""
        try:
            self.invites = self._list()
        except Exception as error:  # shown to the person, who can try again
            self.status.setText(f"Could not read the invites: {error or type(error).__name__}")
            self.invites = []
        for row in range(self.table.rowCount()):
            old = self.table.cellWidget(row, ACTION)
            if old is not None:
                # Deletion is deferred to the event loop: hide it now so it is gone at once.
                old.hide()
                self.table.removeCellWidget(row, ACTION)
        self.table.setRowCount(len(self.invites))
        for row, invite in enumerate(self.invites):
            cells = (
                invite.name or "(no name)",
                invite.role.capitalize(),
                when(invite.created_at),
                when(invite.last_used_at),
                status_text(invite),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if not invite.active:
                    item.setForeground(self.palette().placeholderText())
                self.table.setItem(row, column, item)
            if invite.active:
                button = QPushButton("Revoke…")
                button.setToolTip(f"Disconnect {invite.name or 'this person'} and end the invite")
                button.clicked.connect(lambda _=False, i=invite: self.ask_to_revoke(i))
                self.table.setCellWidget(row, ACTION, button)
            else:
                self.table.setItem(row, ACTION, QTableWidgetItem(""))
        self.table.setVisible(bool(self.invites))
        self.empty.setVisible(not self.invites)

    def row_of(self, invite_id: str) -> int:
        return next(i for i, invite in enumerate(self.invites) if invite.id == invite_id)

    def revoke_button(self, invite_id: str) -> QPushButton | None:
        """The Revoke button on that invite's row (None once it is revoked)."""
        widget = self.table.cellWidget(self.row_of(invite_id), ACTION)
        return widget if isinstance(widget, QPushButton) else None

    def confirm_button(self) -> QPushButton | None:
        """The open question's "Revoke" button (None when no question is open)."""
        box = self.confirmation
        if box is None:
            return None
        for button in box.buttons():
            if box.buttonRole(button) == QMessageBox.ButtonRole.DestructiveRole:
                return button if isinstance(button, QPushButton) else None
        return None

    def ask_to_revoke(self, invite: Invite) -> QMessageBox:
        who = invite.name or "this person"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Revoke invite?",
            f"Revoke {who}'s invite? {who} is disconnected now and cannot join again "
            "with this link.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.addButton("Revoke", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda _: self._answered(box, invite))
        self.confirmation = box
        box.open()
        return box

    def _answered(self, box: QMessageBox, invite: Invite) -> None:
        if self.confirmation is box:
            self.confirmation = None
        clicked = box.clickedButton()
        confirmed = (
            clicked is not None
            and box.buttonRole(clicked) == QMessageBox.ButtonRole.DestructiveRole
        )
        box.deleteLater()
        if not confirmed:
            return
        try:
            self._revoke(invite.id)
        except Exception as error:
            self.status.setText(f"Could not revoke the invite: {error or type(error).__name__}")
        else:
            self.status.setText(f"{invite.name or 'The invite'} was revoked.")
        self.reload()
