// What the `overnight serve` tests share: a Windows 7 Professional profile that installs fully
// unattended (autologon, so the first-logon stage and its reports exist).

export const WIN7_PROFILE = `target:
  release: '7'
  arch: amd64
  edition: Windows 7 PROFESSIONAL
productKey: none
timeZone: W. Europe Standard Time
computerName: PC-{n:3}
accounts:
  administrator:
    password: change-me
  autologon:
    user: Administrator
join:
  workgroup: LAB
`;
