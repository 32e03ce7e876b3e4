// The commented starter profile of `overnight answer init`: every section, with the defaults a
// deployment admin would pick for the release, and a word on each choice.
import { atLeast, RELEASE_NAMES, type Release } from './release.ts';

export function starterProfile(release: Release, arch: 'x86' | 'amd64' | 'arm64'): string {
  const name = RELEASE_NAMES[release];
  const edition = release === '7' ? 'Windows 7 PROFESSIONAL' : release === 'vista' ? 'Windows Vista BUSINESS' : `${name} Pro`;
  const newer = atLeast(release, '8');
  return `# overnight profile: ${name} ${arch}. \`overnight answer render profile.yaml --firmware bios\`
# turns it into autounattend.xml; \`overnight answer schema\` prints its JSON Schema for editors.

target:
  release: '${release}'
  arch: ${arch}
  # The image in install.wim, by name (exact, as \`overnight media info\` lists it) or by index.
  edition: ${edition}
  language: en-US            # the language of the media

disk:
  # auto: MBR for BIOS machines, GPT for UEFI machines, decided per machine by the network boot.
  layout: auto
  disk: 0
  wipe: true                 # everything on disk 0 is erased
  recoverySize: 0            # MB; 0 for no recovery partition

# none (${newer ? 'Setup may ask for one on this release' : 'installs unactivated; activate later'}), kms (the edition's KMS client key),
# or a MAK/retail key: XXXXX-XXXXX-XXXXX-XXXXX-XXXXX
productKey: ${newer ? 'kms' : 'none'}

locale:
  input: en-US               # keyboard, e.g. de-DE or 0407:00000407
  system: en-US
  user: en-US
timeZone: W. Europe Standard Time   # tzutil /l lists the ids

# A fixed name, * for a random one, or a pattern: {n:3} (machine number), {mac}, {serial}.
computerName: PC-{n:3}

accounts:
  administrator:
    password: change-me      # written encoded (base64), which hides it from a glance but is not encryption
  users:
    - name: operator
      password: change-me-too
      groups: [Administrators]
  autologon:                 # first-logon commands and apps need one logon
    user: Administrator
    count: 1

# Join a domain (needs the domain controller during setup) or a workgroup.
join:
  workgroup: WORKGROUP
#  domain: corp.example.com
#  ou: OU=Lab,DC=corp,DC=example,DC=com
#  user: deploy
#  password: secret

oobe:
  networkLocation: work
  protectYourPC: 3           # 3: no automatic updates, right for machines that never see the internet
  registeredOrganization: Example Lab

commands:
  specialize: []             # run as SYSTEM before the first logon, e.g. reg add ...
  firstLogon:
    - run: cmd /c powercfg -change -standby-timeout-ac 0
      description: never sleep on AC power

# Installers on the deployment share, run silently at first logon.
share: \\\\deploy-server\\overnight
apps: []
#  - name: 7-Zip
#    run: apps\\7z.msi         # msiexec /i ... /qn /norestart unless args say otherwise
#  - name: Reader
#    run: apps\\reader.exe
#    args: /sAll /rs

drivers:
  winpe: []                  # storage and network drivers Windows PE needs, e.g. drivers\\winpe
  system: []                 # drivers for the installed system

# Per-machine overrides, by name or MAC address: any field above.
machines: {}
#  PC-042:
#    computerName: LAB-RECEPTION
#  52-54-00-12-34-56:
#    join: { domain: corp.example.com, user: deploy, password: secret, ou: OU=Kiosk,DC=corp,DC=example,DC=com }
`;
}
