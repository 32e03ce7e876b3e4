// Product keys: the format Setup accepts, Microsoft's published KMS client setup keys (GVLKs) and
// the edition each one installs, and the image names of the usual editions.
import { type Release } from './release.ts';

// ---------------------------------------------------------------------------------------------
// Format. Keys are 25 characters in five dash-separated groups, drawn from a 24-symbol alphabet
// (no vowels, no L, N, S, Z, no 0, 1, 5). Windows 8 and later encode one more bit by inserting a
// single N: its index (0-23) is the value of the first base-24 digit, so it is never the last
// character, and keys of Vista / 7 never have one. Source: the key decoding every tool ports
// (e.g. the "BCDFGHJKMPQRTVWXY2346789" table and N insertion in DecodeProductKey implementations
// on GitHub), checked against all keys of the KMS table below.

/** The 24 symbols of a product key, without the Windows 8+ N. */
export const KEY_ALPHABET = 'BCDFGHJKMPQRTVWXY2346789';

const PRE_8: ReadonlySet<Release> = new Set<Release>(['vista', '7']);

/**
 * 'ok' or what is wrong with `key`. With `release`, a key that release cannot have (an N on Vista
 * or 7) is wrong too. Letter case is not judged.
 */
export function keyFormat(key: string, release?: Release): 'ok' | string {
  if (key !== key.trim()) return 'has spaces around it';
  const k = key.toUpperCase();
  const groups = k.split('-');
  if (groups.length !== 5 || groups.some((g) => g.length !== 5)) {
    return `${groups.length} group(s) of ${groups.map((g) => g.length).join('/')} characters; a key is 5 groups of 5 separated by dashes`;
  }
  const chars = groups.join('');
  const bad = [...new Set([...chars].filter((c) => c !== 'N' && !KEY_ALPHABET.includes(c)))];
  if (bad.length) return `contains ${bad.map((c) => `"${c}"`).join(', ')}, which no product key uses (letters and digits allowed: ${KEY_ALPHABET} and one N from Windows 8)`;
  const n = [...chars].filter((c) => c === 'N').length;
  if (n > 1) return `contains ${n} N; a key has at most one`;
  if (n === 1 && chars.endsWith('N')) return 'ends with N, which no key does (the N of a Windows 8+ key is never last)';
  if (n === 1 && release !== undefined && PRE_8.has(release)) return `contains an N; keys of ${release === '7' ? 'Windows 7' : 'Windows Vista'} never do (that is a Windows 8 or later key)`;
  return 'ok';
}

// ---------------------------------------------------------------------------------------------
// KMS client setup keys. Source: "Key Management Services (KMS) client activation and product
// keys" https://learn.microsoft.com/windows-server/get-started/kms-client-activation-keys
// (MicrosoftDocs/windowsserverdocs, revisions of 2023-09 and 2024-10). Edition names are the
// page's. `editionIds` are the EditionID values of the images a key installs (install.wim
// <EDITIONID>; Vista / Server 2008 images carry it in <FLAGS>, in capitals): for Vista, 7 and
// Server 2008 / 2008 R2 from the SupportedEditions column of a VAMT GVLK seed script; for 8 and
// later from cloudbase-init's SKU→key map (https://github.com/cloudbase/cloudbase-init,
// cloudbaseinit/utils/windows/productkeys.py) and wimlib dumps of the ISOs (xoap-packer-templates,
// see EDITIONS below). Server Core images of 2016/2022 keep the plain EDITIONID (ServerStandard)
// with INSTALLATIONTYPE "Server Core" and FLAGS "ServerStandardCore"; the "...Core" ids are listed
// so that FLAGS or a tool's Core id also match. Windows 10/11 Home, 8.1 Core and other editions
// without a key on that page have no entry.

export interface KmsKey {
  release: Release | 'server2008' | 'server2008r2' | 'server2012' | 'server2012r2' | 'server2016' | 'server2019' | 'server2022';
  /** As Microsoft's page names it. */
  edition: string;
  /** The EditionID(s) used in install.wim XML. */
  editionIds: readonly string[];
  key: string;
  note?: string;
}

type Row = [edition: string, editionIds: readonly string[], key: string, note?: string];

function rows(release: KmsKey['release'], list: readonly Row[]): KmsKey[] {
  return list.map(([edition, editionIds, key, note]) => (note === undefined ? { release, edition, editionIds, key } : { release, edition, editionIds, key, note }));
}

// Windows 10 and 11 share the keys of their semi-annual editions (one row of the page each).
const TEN_ELEVEN: readonly [string, readonly string[], string][] = [
  ['Pro', ['Professional'], 'W269N-WFGWX-YVC9B-4J6C9-T83GX'],
  ['Pro N', ['ProfessionalN'], 'MH37W-N47XK-V7XM9-C7227-GCQG9'],
  ['Pro for Workstations', ['ProfessionalWorkstation'], 'NRG8B-VKK3Q-CXVCJ-9G2XF-6Q84J'],
  ['Pro for Workstations N', ['ProfessionalWorkstationN'], '9FNHH-K3HBT-3W4TD-6383H-6XYWF'],
  ['Pro Education', ['ProfessionalEducation'], '6TP4R-GNPTD-KYYHQ-7B7DP-J447Y'],
  ['Pro Education N', ['ProfessionalEducationN'], 'YVWGF-BXNMC-HTQYQ-CPQ99-66QFC'],
  ['Education', ['Education'], 'NW6C2-QMPVW-D7KKK-3GKT6-VCFB2'],
  ['Education N', ['EducationN'], '2WH4N-8QGBV-H22JP-CT43Q-MDWWJ'],
  ['Enterprise', ['Enterprise'], 'NPPR9-FWDCX-D2C8J-H872K-2YT43'],
  ['Enterprise N', ['EnterpriseN'], 'DPH2V-TTNVB-4X9Q3-TJR4H-KHJW4'],
  ['Enterprise G', ['EnterpriseG'], 'YYVX9-NTFWV-6MDM3-9PT4T-4M68B'],
  ['Enterprise G N', ['EnterpriseGN'], '44RPN-FTY23-9VTTB-MP9BX-T84FV'],
];

const SHARED = 'Windows 10 and 11 use the same key for this edition';
const IOT = 'for builds from 10.0.19044.2905 the page points to https://learn.microsoft.com/windows/iot/iot-enterprise/deployment/volume-license';

export const KMS_CLIENT_KEYS: readonly KmsKey[] = [
  ...rows('11', [
    ...TEN_ELEVEN.map(([e, ids, key]): Row => [`Windows 11 ${e}`, ids, key, SHARED]),
    ['Windows 11 Enterprise LTSC 2024', ['EnterpriseS'], 'M7XTQ-FN8P6-TTKYV-9D4CC-J462D', 'same key as Windows 10 Enterprise LTSC 2021 and 2019'],
    ['Windows 11 Enterprise N LTSC 2024', ['EnterpriseSN'], '92NFX-8DJQP-P6BBQ-THF9C-7CG2H', 'same key as Windows 10 Enterprise N LTSC 2021 and 2019'],
    ['Windows IoT Enterprise LTSC 2024', ['IoTEnterpriseS'], 'KBN8V-HFGQ4-MGXVD-347P6-PDQGT', IOT],
  ]),
  ...rows('10', [
    ...TEN_ELEVEN.map(([e, ids, key]): Row => [`Windows 10 ${e}`, ids, key, SHARED]),
    ['Windows 10 Enterprise LTSC 2021', ['EnterpriseS'], 'M7XTQ-FN8P6-TTKYV-9D4CC-J462D'],
    ['Windows 10 Enterprise LTSC 2019', ['EnterpriseS'], 'M7XTQ-FN8P6-TTKYV-9D4CC-J462D'],
    ['Windows 10 Enterprise N LTSC 2021', ['EnterpriseSN'], '92NFX-8DJQP-P6BBQ-THF9C-7CG2H'],
    ['Windows 10 Enterprise N LTSC 2019', ['EnterpriseSN'], '92NFX-8DJQP-P6BBQ-THF9C-7CG2H'],
    ['Windows IoT Enterprise LTSC 2021', ['IoTEnterpriseS'], 'KBN8V-HFGQ4-MGXVD-347P6-PDQGT', IOT],
    ['Windows 10 Enterprise LTSB 2016', ['EnterpriseS'], 'DCPHK-NFMTC-H88MJ-PFHPY-QJ4BJ'],
    ['Windows 10 Enterprise N LTSB 2016', ['EnterpriseSN'], 'QFFDN-GRT3P-VKWWX-X7T3R-8B639'],
    ['Windows 10 Enterprise LTSB 2015', ['EnterpriseS'], 'WNMTR-4C88C-JK8YV-HQ7T2-76DF9'],
    ['Windows 10 Enterprise N LTSB 2015', ['EnterpriseSN'], '2F77B-TNFGY-69QQF-B8YKP-D69TJ'],
  ]),
  ...rows('8.1', [
    ['Windows 8.1 Pro', ['Professional'], 'GCRJD-8NW9H-F2CDX-CCM8D-9D6T9'],
    ['Windows 8.1 Pro N', ['ProfessionalN'], 'HMCNV-VVBFX-7HMBH-CTY9B-B4FXY'],
    ['Windows 8.1 Enterprise', ['Enterprise'], 'MHF9N-XY6XB-WVXMC-BTDCT-MKKG7'],
    ['Windows 8.1 Enterprise N', ['EnterpriseN'], 'TT4HM-HN7YT-62K67-RGRQJ-JFFXW'],
  ]),
  ...rows('8', [
    ['Windows 8 Pro', ['Professional'], 'NG4HW-VH26C-733KW-K6F98-J8CK4'],
    ['Windows 8 Pro N', ['ProfessionalN'], 'XCVCF-2NXM9-723PB-MHCB7-2RYQQ'],
    ['Windows 8 Enterprise', ['Enterprise'], '32JNW-9KQ84-P47T8-D8GGY-CWCK7'],
    ['Windows 8 Enterprise N', ['EnterpriseN'], 'JMNMF-RHW7P-DMY6X-RF3DR-X2BQT'],
    // Listed under Windows Server 2012 (as "Windows Server 2012", "... N", "... Single Language",
    // "... Country Specific") until the 2024 revision dropped them; they are the Windows 8 (Core)
    // client keys, as cloudbase-init's map shows.
    ['Windows 8', ['Core'], 'BN3D2-R7TKB-3YPBD-8DRP2-27GG4', 'the page listed it as "Windows Server 2012"'],
    ['Windows 8 N', ['CoreN'], '8N2M2-HWPGY-7PGT9-HGDD8-GVGGY', 'the page listed it as "Windows Server 2012 N"'],
    ['Windows 8 Single Language', ['CoreSingleLanguage'], '2WN2H-YGCQR-KFX6K-CD6TF-84YXQ', 'the page listed it as "Windows Server 2012 Single Language"'],
    ['Windows 8 Country Specific', ['CoreCountrySpecific'], '4K36P-JN4VD-GDC6V-KDT89-DYFKP', 'the page listed it as "Windows Server 2012 Country Specific"'],
  ]),
  ...rows('7', [
    ['Windows 7 Professional', ['Professional'], 'FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4'],
    ['Windows 7 Professional N', ['ProfessionalN'], 'MRPKT-YTG23-K7D7T-X2JMM-QY7MG'],
    ['Windows 7 Professional E', ['ProfessionalE'], 'W82YF-2Q76Y-63HXB-FGJG9-GF7QX'],
    ['Windows 7 Enterprise', ['Enterprise'], '33PXH-7Y6KF-2VJC9-XBBR8-HVTHH'],
    ['Windows 7 Enterprise N', ['EnterpriseN'], 'YDRBP-3D83W-TY26F-D46B2-XCKRJ'],
    ['Windows 7 Enterprise E', ['EnterpriseE'], 'C29WB-22CC8-VJ326-GHFJW-H9DH4'],
  ]),
  ...rows('vista', [
    ['Windows Vista Business', ['Business'], 'YFKBB-PQJJV-G996G-VWGXY-2V3X8'],
    ['Windows Vista Business N', ['BusinessN'], 'HMBQG-8H2RH-C77VX-27R82-VMQBT'],
    ['Windows Vista Enterprise', ['Enterprise'], 'VKK3X-68KWM-X2YGT-QR4M6-4BWMV'],
    ['Windows Vista Enterprise N', ['EnterpriseN'], 'VTC42-BM838-43QHV-84HX6-XJXKV'],
  ]),
  ...rows('server2022', [
    ['Windows Server 2022 Standard', ['ServerStandard', 'ServerStandardCore'], 'VDYBN-27WPP-V4HQT-9VMD4-VMK7H'],
    ['Windows Server 2022 Datacenter', ['ServerDatacenter', 'ServerDatacenterCore'], 'WX4NM-KYWYW-QJJR4-XV3QB-6VM33'],
    ['Windows Server 2022 Datacenter: Azure Edition', ['ServerTurbine'], 'NTBV8-9K7Q8-V27C6-M2BTV-KHMXV', 'EditionID ServerTurbine as community KMS tables give it (not on a Microsoft page)'],
  ]),
  ...rows('server2019', [
    ['Windows Server 2019 Standard', ['ServerStandard', 'ServerStandardCore'], 'N69G4-B89J2-4G8F4-WWYCC-J464C'],
    ['Windows Server 2019 Datacenter', ['ServerDatacenter', 'ServerDatacenterCore'], 'WMDGN-G9PQG-XVVXX-R3X43-63DFG'],
    ['Windows Server 2019 Essentials', ['ServerSolution'], 'WVDHN-86M7X-466P6-VHXV7-YY726'],
  ]),
  ...rows('server2016', [
    ['Windows Server 2016 Standard', ['ServerStandard', 'ServerStandardCore'], 'WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY'],
    ['Windows Server 2016 Datacenter', ['ServerDatacenter', 'ServerDatacenterCore'], 'CB7KF-BWN84-R7R2Y-793K2-8XDDG'],
    ['Windows Server 2016 Essentials', ['ServerSolution', 'ServerSolutionCore'], 'JCKRF-N37P4-C2D82-9YXRT-4M63B'],
  ]),
  ...rows('server2012r2', [
    ['Windows Server 2012 R2 Standard', ['ServerStandard', 'ServerStandardCore'], 'D2N9P-3P6X9-2R39C-7RTCD-MDVJX'],
    ['Windows Server 2012 R2 Datacenter', ['ServerDatacenter', 'ServerDatacenterCore'], 'W3GGN-FT8W3-Y4M27-J84CP-Q3VJ9'],
    ['Windows Server 2012 R2 Essentials', ['ServerSolution', 'ServerSolutionCore'], 'KNC87-3J2TX-XB4WP-VCPJV-M4FWM'],
  ]),
  ...rows('server2012', [
    ['Windows Server 2012 Standard', ['ServerStandard', 'ServerStandardCore'], 'XC9B7-NBPP2-83J2H-RHMBY-92BT4'],
    ['Windows Server 2012 MultiPoint Standard', ['ServerMultiPointStandard'], 'HM7DN-YVMH3-46JC3-XYTG7-CYQJJ'],
    ['Windows Server 2012 MultiPoint Premium', ['ServerMultiPointPremium'], 'XNH6W-2V9GX-RGJ4K-Y8X6F-QGJ2G'],
    ['Windows Server 2012 Datacenter', ['ServerDatacenter', 'ServerDatacenterCore'], '48HP8-DN98B-MYWDG-T2DCC-8W83P'],
    ['Windows Server 2012 Essentials', ['ServerSolution'], 'HTDQM-NBMMG-KGYDT-2DTKT-J2MPV'],
  ]),
  ...rows('server2008r2', [
    ['Windows Server 2008 R2 Web', ['ServerWeb', 'ServerWebCore'], '6TPJF-RBVHG-WBW2R-86QPH-6RTM4'],
    ['Windows Server 2008 R2 HPC edition', ['ServerHPC'], 'TT8MH-CG224-D3D7Q-498W2-9QCTX'],
    ['Windows Server 2008 R2 Standard', ['ServerStandard', 'ServerStandardCore'], 'YC6KT-GKW9T-YTKYR-T4X34-R7VHC'],
    ['Windows Server 2008 R2 Enterprise', ['ServerEnterprise', 'ServerEnterpriseCore'], '489J6-VHDMP-X63PK-3K798-CPX3Y'],
    ['Windows Server 2008 R2 Datacenter', ['ServerDatacenter', 'ServerDatacenterCore'], '74YFP-3QFB3-KQT8W-PMXWJ-7M648'],
    ['Windows Server 2008 R2 for Itanium-based Systems', ['ServerEnterpriseIA64'], 'GT63C-RJFQ3-4GMB6-BRFB9-CB83V'],
  ]),
  ...rows('server2008', [
    ['Windows Web Server 2008', ['ServerWeb', 'ServerWebCore'], 'WYR28-R7TFJ-3X2YQ-YCY4H-M249D'],
    ['Windows Server 2008 Standard', ['ServerStandard', 'ServerStandardCore'], 'TM24T-X9RMF-VWXK6-X8JC9-BFGM2'],
    ['Windows Server 2008 Standard without Hyper-V', ['ServerStandardV', 'ServerStandardVCore'], 'W7VD6-7JFBR-RX26B-YKQ3Y-6FFFJ'],
    ['Windows Server 2008 Enterprise', ['ServerEnterprise', 'ServerEnterpriseCore'], 'YQGMW-MPWTJ-34KDK-48M3W-X4Q6V'],
    ['Windows Server 2008 Enterprise without Hyper-V', ['ServerEnterpriseV', 'ServerEnterpriseVCore'], '39BXF-X8Q23-P2WWT-38T2F-G3FPG'],
    ['Windows Server 2008 HPC', ['ServerComputeCluster'], 'RCTX3-KWVHP-BR6TB-RB6DM-6X7HP'],
    ['Windows Server 2008 Datacenter', ['ServerDatacenter', 'ServerDatacenterCore'], '7M67G-PC374-GR742-YH8V4-TCBY3'],
    ['Windows Server 2008 Datacenter without Hyper-V', ['ServerDatacenterV', 'ServerDatacenterVCore'], '22XQ2-VRXRG-P8D42-K34TD-G3QQC'],
    ['Windows Server 2008 for Itanium-Based Systems', ['ServerEnterpriseIA64'], '4DWFP-JF3DJ-B7DTH-78FJB-PDRHK'],
  ]),
];

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** The KMS client key of `editionId` (any letter case: Vista media write BUSINESS) on `release`. */
export function kmsKeyFor(release: Release, editionId: string): KmsKey | undefined {
  return KMS_CLIENT_KEYS.find((k) => k.release === release && k.editionIds.some((e) => same(e, editionId)));
}

/** Every table row with this key (a Windows 10/11 key has a row per release). */
export function kmsKeysWith(key: string): KmsKey[] {
  const k = key.trim().toUpperCase();
  return KMS_CLIENT_KEYS.filter((r) => r.key === k);
}

/**
 * The edition a KMS client key installs, or undefined for any other key. Keys shared by Windows 10
 * and 11 (and the LTSC keys shared across 2019, 2021, 2024) have a row per release: pass `release`
 * to get that release's row; without it the newest release's row comes back.
 */
export function editionOfKey(key: string, release?: KmsKey['release']): KmsKey | undefined {
  const all = kmsKeysWith(key);
  return (release !== undefined ? all.find((r) => r.release === release) : undefined) ?? all[0];
}

// ---------------------------------------------------------------------------------------------
// Image names (install.wim <NAME>, the value /IMAGE/NAME must match) of common editions. Windows 7
// media name images by the capitalised EditionID ("Windows 7 PROFESSIONAL"); later media use the
// marketing name. Sources: FACTS.md §5 and the answer files in ../shared/corpus/answer-files
// (7 ENTERPRISE, 7 PROFESSIONAL, 8.1 Pro, 10 Enterprise Evaluation); the Windows 7 N names from a
// German N DVD's metadata in opsi's WIM tests (https://github.com/opsi-org/python-opsi); the
// Windows 10 volume-licence and LTSC 2019 images from wimlib dumps of the ISOs
// (https://github.com/xoap-io/xoap-packer-templates, helper/*-image-names-ids.md); Home, the 2021
// LTSC, Evaluation and the Windows 11 names from public answer files and WIM readers' fixtures.
// Vista image names are not recorded: none could be verified (Vista images also lack <EDITIONID>;
// the id is in <FLAGS>, in capitals). Server images are named "Windows Server 2016
// SERVERSTANDARDCORE" and the like; their Core images keep the plain EditionID.

export const EDITIONS: readonly { release: Release; editionId: string; imageName: string }[] = [
  { release: '7', editionId: 'Starter', imageName: 'Windows 7 STARTER' },
  { release: '7', editionId: 'HomeBasic', imageName: 'Windows 7 HOMEBASIC' },
  { release: '7', editionId: 'HomePremium', imageName: 'Windows 7 HOMEPREMIUM' },
  { release: '7', editionId: 'Professional', imageName: 'Windows 7 PROFESSIONAL' },
  { release: '7', editionId: 'Ultimate', imageName: 'Windows 7 ULTIMATE' },
  { release: '7', editionId: 'Enterprise', imageName: 'Windows 7 ENTERPRISE' },
  { release: '7', editionId: 'StarterN', imageName: 'Windows 7 STARTERN' },
  { release: '7', editionId: 'HomeBasicN', imageName: 'Windows 7 HOMEBASICN' },
  { release: '7', editionId: 'HomePremiumN', imageName: 'Windows 7 HOMEPREMIUMN' },
  { release: '7', editionId: 'ProfessionalN', imageName: 'Windows 7 PROFESSIONALN' },
  { release: '7', editionId: 'UltimateN', imageName: 'Windows 7 ULTIMATEN' },
  { release: '8.1', editionId: 'Professional', imageName: 'Windows 8.1 Pro' },
  { release: '10', editionId: 'Core', imageName: 'Windows 10 Home' },
  { release: '10', editionId: 'Professional', imageName: 'Windows 10 Pro' },
  { release: '10', editionId: 'ProfessionalN', imageName: 'Windows 10 Pro N' },
  { release: '10', editionId: 'ProfessionalEducation', imageName: 'Windows 10 Pro Education' },
  { release: '10', editionId: 'ProfessionalEducationN', imageName: 'Windows 10 Pro Education N' },
  { release: '10', editionId: 'ProfessionalWorkstation', imageName: 'Windows 10 Pro for Workstations' },
  { release: '10', editionId: 'ProfessionalWorkstationN', imageName: 'Windows 10 Pro N for Workstations' },
  { release: '10', editionId: 'Education', imageName: 'Windows 10 Education' },
  { release: '10', editionId: 'EducationN', imageName: 'Windows 10 Education N' },
  { release: '10', editionId: 'Enterprise', imageName: 'Windows 10 Enterprise' },
  { release: '10', editionId: 'EnterpriseN', imageName: 'Windows 10 Enterprise N' },
  { release: '10', editionId: 'EnterpriseEval', imageName: 'Windows 10 Enterprise Evaluation' },
  { release: '10', editionId: 'EnterpriseS', imageName: 'Windows 10 Enterprise LTSC 2019' },
  { release: '10', editionId: 'EnterpriseSN', imageName: 'Windows 10 Enterprise N LTSC 2019' },
  { release: '10', editionId: 'EnterpriseS', imageName: 'Windows 10 Enterprise LTSC 2021' },
  { release: '11', editionId: 'Professional', imageName: 'Windows 11 Pro' },
  { release: '11', editionId: 'Enterprise', imageName: 'Windows 11 Enterprise' },
];
