; Tandem's Windows installer: per user (no administrator rights), into
; %LOCALAPPDATA%\Programs\Tandem. packaging/build.py compiles it with makensis:
;   makensis -DVERSION=0.1.0 -DFILE_VERSION=0.1.0.0 -DPAYLOAD=dist\Tandem
;            -DOUTFILE=dist\Tandem-0.1.0-windows-setup.exe -DICON=assets\icons\tandem.ico
; The user's data (%LOCALAPPDATA%\Tandem) is never inside the install folder: upgrades
; replace the program only, and uninstalling keeps the data unless the box is ticked.

Unicode true
!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"

!ifndef VERSION
  !error "define VERSION (makensis -DVERSION=...)"
!endif
!ifndef PAYLOAD
  !error "define PAYLOAD, the folder PyInstaller built (dist\Tandem)"
!endif
!ifndef EXE
  !define EXE "Tandem.exe"
!endif

!define PRODUCT "Tandem"
!define PUBLISHER "Tandem maintainers"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Tandem"
; The same Run value the tray's "Start at login" writes (app/autostart.py).
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define RUN_VALUE "Tandem"
; platformdirs' per-user data folder for "Tandem" (server/paths.py).
!define DATA_DIR "$LOCALAPPDATA\Tandem"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\Tandem"
InstallDirRegKey HKCU "Software\Tandem" "InstallDir"
SetCompressor /SOLID lzma
ShowInstDetails nevershow
BrandingText "${PRODUCT} ${VERSION}"

VIProductVersion "${FILE_VERSION}"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${PRODUCT} installer"
VIAddVersionKey "LegalCopyright" "MIT License"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_COMPONENTSPAGE_NODESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start Tandem now"

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; Ask the Tandem in FOLDER to quit (ID makes the macro's label unique), and wait for it: an upgrade or uninstall must
; not replace files a running Tandem uses. `Tandem.exe --quit` returns 0 once none runs.
!macro QuitRunningTandem FOLDER ID
  ${If} ${FileExists} "${FOLDER}\${EXE}"
    retry_quit_${ID}:
    DetailPrint "Asking a running Tandem to quit"
    ExecWait '"${FOLDER}\${EXE}" --quit' $0
    ${If} $0 != 0
      MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION \
        "Tandem is still running. Quit it from its tray icon, then choose Retry.$\r$\n$\r$\nNothing has been changed yet." \
        /SD IDCANCEL IDRETRY retry_quit_${ID}
      Abort "Tandem is still running; nothing was changed."
    ${EndIf}
  ${EndIf}
!macroend

Function .onVerifyInstDir
  ; Per-user install: a folder under Program Files would need administrator rights.
  StrCmp $INSTDIR "" 0 +2
    Abort
FunctionEnd

Section "Tandem" SecMain
  SectionIn RO
  ; An earlier install, wherever it went, may be running.
  ReadRegStr $1 HKCU "Software\Tandem" "InstallDir"
  ${If} $1 != ""
    !insertmacro QuitRunningTandem "$1" previous
  ${EndIf}
  !insertmacro QuitRunningTandem "$INSTDIR" target

  ; Refuse a folder this user cannot write to before changing anything.
  ClearErrors
  CreateDirectory "$INSTDIR"
  FileOpen $2 "$INSTDIR\.tandem-write-test" w
  ${If} ${Errors}
    MessageBox MB_OK|MB_ICONSTOP \
      "Tandem cannot be installed into$\r$\n$INSTDIR$\r$\nbecause this account may not write there. Choose a folder of your own (the default is $LOCALAPPDATA\Programs\Tandem). Nothing was changed." \
      /SD IDOK
    Abort "Cannot write to $INSTDIR; nothing was changed."
  ${EndIf}
  FileClose $2
  Delete "$INSTDIR\.tandem-write-test"

  ; An upgrade replaces the whole program folder: no stale library from the old version.
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File /r "${PAYLOAD}\*"
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  CreateShortcut "$SMPROGRAMS\Tandem.lnk" "$INSTDIR\${EXE}"
  WriteRegStr HKCU "Software\Tandem" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${EXE}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\Uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\Uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $3 $4 $5
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" $3
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\Tandem.lnk" "$INSTDIR\${EXE}"
SectionEnd

Section /o "Start Tandem when I log in" SecLogin
  WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" '"$INSTDIR\${EXE}"'
SectionEnd

Section "un.Tandem" UnSecMain
  SectionIn RO
  !insertmacro QuitRunningTandem "$INSTDIR" uninstall
  Delete "$SMPROGRAMS\Tandem.lnk"
  Delete "$DESKTOP\Tandem.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  DeleteRegKey HKCU "Software\Tandem"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${EXE}"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"
SectionEnd

; Off unless ticked: the board, its backups, settings and logs.
Section /o "un.Also delete my data (${DATA_DIR})" UnSecData
  RMDir /r "${DATA_DIR}"
SectionEnd
