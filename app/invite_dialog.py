"""The "Invite someone…" dialog: pick a role, get a link, copy it or scan its QR code.

When the LAN listener uses TLS, the certificate's fingerprint is shown under the link:
the certificate is self-signed, so the colleague checks it against what their browser shows.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import segno
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.invites import InviteRole

CreateInvite = Callable[[InviteRole, str], str]
# The LAN certificate's SHA-256 fingerprint, "" when the LAN listener does not use TLS.
LanFingerprint = Callable[[], str]


def qr_pixmap(text: str, scale: int = 5) -> QPixmap:
    """A QR code for ``text`` (dark on white, with the standard quiet zone)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=4)
    pixmap = QPixmap()
    pixmap.loadFromData(buffer.getvalue(), "PNG")
    return pixmap


def fingerprint_text(fingerprint: str) -> str:
    """The fingerprint as shown: two rows of 16 bytes, easy to compare with a browser's."""
    octets = fingerprint.split(":")
    rows = [":".join(octets[i : i + 16]) for i in range(0, len(octets), 16)]
    return "Certificate fingerprint:\n" + "\n".join(rows)


class InviteDialog(QDialog):
    def __init__(
        self,
        create: CreateInvite,
        *,
        lan_note: str = "",
        icon: QIcon | None = None,
        fingerprint: LanFingerprint | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._create = create
        self._fingerprint = fingerprint
        self.setWindowTitle("Invite someone to Tandem")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setMinimumWidth(420)

        intro = QLabel(
            "Anyone on your network with this link can open your board. "
            "Each link is for one person; you can revoke it later."
        )
        intro.setWordWrap(True)

        self.name = QLineEdit()
        self.name.setPlaceholderText("Optional, e.g. Sam")
        self.role = QComboBox()
        self.role.addItem("Editor: can change tasks and comment", InviteRole.EDITOR)
        self.role.addItem("Viewer: can only look", InviteRole.VIEWER)
        self.create_button = QPushButton("Create link")
        self.create_button.setDefault(True)
        self.create_button.clicked.connect(self.create_link)

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Role", self.role)

        self.link = QLineEdit()
        self.link.setReadOnly(True)
        self.link.setPlaceholderText("The link appears here")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_link)
        link_row = QHBoxLayout()
        link_row.addWidget(self.link, 1)
        link_row.addWidget(self.copy_button)

        self.fingerprint = QLabel()
        self.fingerprint.setTextFormat(Qt.TextFormat.PlainText)
        self.fingerprint.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fingerprint.setVisible(False)

        self.qr = QLabel()
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr.setMinimumHeight(40)
        self.status = QLabel(lan_note)
        self.status.setWordWrap(True)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.create_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(link_row)
        layout.addWidget(self.fingerprint)
        layout.addWidget(self.qr)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

    def selected_role(self) -> InviteRole:
        return InviteRole(self.role.currentData())

    def create_link(self) -> None:
        try:
            url = self._create(self.selected_role(), self.name.text().strip())
        except Exception as error:  # shown to the person, who can act on it
            self.status.setText(str(error) or type(error).__name__)
            self.link.clear()
            self.qr.clear()
            self.show_fingerprint("")
            self.copy_button.setEnabled(False)
            return
        self.link.setText(url)
        # Show where the link goes (the address), not the end of the token.
        self.link.setCursorPosition(0)
        fingerprint = self._fingerprint() if self._fingerprint is not None else ""
        self.show_fingerprint(fingerprint)
        pixmap = qr_pixmap(url)
        self.qr.setPixmap(pixmap)
        self.qr.setMinimumSize(pixmap.size())
        self.adjustSize()
        self.copy_button.setEnabled(True)
        role = self.selected_role().value
        if fingerprint:
            self.status.setText(
                f"Send this link and the fingerprint to the person you invite, as {role}; "
                "their browser warns about the certificate, and should show the same fingerprint."
            )
        else:
            self.status.setText(f"Send this link to the person you invite, as {role}.")

    def show_fingerprint(self, fingerprint: str) -> None:
        self.fingerprint.setText(fingerprint_text(fingerprint) if fingerprint else "")
        self.fingerprint.setVisible(bool(fingerprint))

    def copy_link(self) -> None:
        if self.link.text():
            QGuiApplication.clipboard().setText(self.link.text())
            self.status.setText("Link copied.")
