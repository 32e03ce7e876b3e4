// Windows time zone ids: the key names under HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\
// Time Zones, which `tzutil /l` prints and Microsoft-Windows-Shell-Setup/TimeZone takes. Setup
// matches them exactly; an unknown id makes it stop and ask. Windows gains zones through its time
// zone updates, so an install from older media that is not updated lacks the newer ones: `since`
// is the first release whose media ship the zone, `until` the last one that still had it.
//
// Sources:
// - The list and the display names: Microsoft's default time zone table
//   https://learn.microsoft.com/windows-hardware/manufacture/desktop/default-time-zones
//   and the complete id list that CLDR keeps in step with the Windows registry
//   https://github.com/unicode-org/cldr/blob/main/common/supplemental/windowsZones.xml
//   (the display strings are those of an up-to-date Windows 10/11; older media word some of them
//   differently, e.g. "(GMT+01:00)" on Vista).
// - When zones appeared (snapshots of the whole id list at known dates):
//   Vista-era set and its order of addition: "Microsoft Time Zone Index Values", KB 973627
//   https://support.microsoft.com/help/973627 ; the set of an Exchange 2010 / Windows Server
//   2008 R2 server (Windows 7 era, before August 2011) as listed by exchangelib's early
//   ewsdatetime.py (https://github.com/ecederstrand/exchangelib); CLDR's list of October 2012
//   (otherVersion 7dc0101) and of late 2015 as copied into Qt's cldr2qtimezone.py
//   (https://github.com/qt/qtbase, util/local_database); the zones Windows 10 gained in 2015-2016
//   (https://github.com/nodatime/nodatime/issues/560, KB 3112148, KB 3148851, KB 3162835, and
//   https://learn.microsoft.com/archive/blogs/dst2007/introducing-new-windows-time-zones);
//   Yukon (2020) and South Sudan (2021) from reports of ids new after a Windows update
//   (https://github.com/mattjohnsonpint/TimeZoneConverter/issues/75 and /97).
// - The `_dstoff` suffix: https://learn.microsoft.com/windows-hardware/customize/desktop/unattend/microsoft-windows-shell-setup-timezone
//
// Where the evidence only brackets an addition across a release boundary, `since` takes the
// earlier release (a lint should not reject what may work); the note says so. Zones that Windows
// 10 gained after its first release are marked since '10' with a note: media of 1507 lack them.

import { editDistance as distance } from './distance.ts';
import { inRange, type Release } from './release.ts';

export interface TimeZone {
  id: string;
  display?: string;
  since: Release;
  until?: Release;
  note?: string;
}

// Notes shared by many entries.
const VISTA_UPDATE = 'reached Vista through a 2007-2008 cumulative time zone update (not on Vista RTM media); in the Windows 7 base set';
const SEVEN_ERA = 'not on Vista media (Vista gets it only from a later time zone update); in the Windows 7 SP1 set';
const SEVEN_ERA_LATE = 'in the Windows 7 / Server 2008 R2 set by 2010; may have come with a 2009-2010 update rolled into SP1 rather than RTM';
const WIN10_2016 = 'added by a Windows 10-era update (2016 or later, e.g. KB 3162835); not on Windows 10 1507 media, and never on 7/8/8.1 media';

function z(id: string, display: string, since: Release, note?: string, until?: Release): TimeZone {
  const t: TimeZone = { id, display, since };
  if (until !== undefined) t.until = until;
  if (note !== undefined) t.note = note;
  return t;
}

/** Every Windows time zone id, in the order of their offsets (as CLDR lists them), then the legacy ones. */
export const TIME_ZONES: readonly TimeZone[] = [
  z('Dateline Standard Time', '(UTC-12:00) International Date Line West', 'vista'),
  z('UTC-11', '(UTC-11:00) Coordinated Universal Time-11', '7', SEVEN_ERA),
  z('Aleutian Standard Time', '(UTC-10:00) Aleutian Islands', '10', WIN10_2016),
  z('Hawaiian Standard Time', '(UTC-10:00) Hawaii', 'vista'),
  z('Marquesas Standard Time', '(UTC-09:30) Marquesas Islands', '10', WIN10_2016),
  z('Alaskan Standard Time', '(UTC-09:00) Alaska', 'vista'),
  z('UTC-09', '(UTC-09:00) Coordinated Universal Time-09', '10', WIN10_2016),
  z('Pacific Standard Time (Mexico)', '(UTC-08:00) Baja California', 'vista'),
  z('UTC-08', '(UTC-08:00) Coordinated Universal Time-08', '10', WIN10_2016),
  z('Pacific Standard Time', '(UTC-08:00) Pacific Time (US & Canada)', 'vista'),
  z('US Mountain Standard Time', '(UTC-07:00) Arizona', 'vista'),
  z('Mountain Standard Time (Mexico)', '(UTC-07:00) Chihuahua, La Paz, Mazatlan', 'vista'),
  z('Mountain Standard Time', '(UTC-07:00) Mountain Time (US & Canada)', 'vista'),
  z('Yukon Standard Time', '(UTC-07:00) Yukon', '10', 'added by a 2020 update to Windows 10'),
  z('Central America Standard Time', '(UTC-06:00) Central America', 'vista'),
  z('Central Standard Time', '(UTC-06:00) Central Time (US & Canada)', 'vista'),
  z('Easter Island Standard Time', '(UTC-06:00) Easter Island', '10', WIN10_2016),
  z('Central Standard Time (Mexico)', '(UTC-06:00) Guadalajara, Mexico City, Monterrey', 'vista'),
  z('Canada Central Standard Time', '(UTC-06:00) Saskatchewan', 'vista'),
  z('SA Pacific Standard Time', '(UTC-05:00) Bogota, Lima, Quito, Rio Branco', 'vista'),
  z('Eastern Standard Time (Mexico)', '(UTC-05:00) Chetumal', '10', 'added by a 2015 update (Quintana Roo), before Windows 10 shipped'),
  z('Eastern Standard Time', '(UTC-05:00) Eastern Time (US & Canada)', 'vista'),
  z('Haiti Standard Time', '(UTC-05:00) Haiti', '10', WIN10_2016),
  z('Cuba Standard Time', '(UTC-05:00) Havana', '10', WIN10_2016),
  z('US Eastern Standard Time', '(UTC-05:00) Indiana (East)', 'vista'),
  z('Turks And Caicos Standard Time', '(UTC-05:00) Turks and Caicos', '10', WIN10_2016),
  z('Paraguay Standard Time', '(UTC-04:00) Asuncion', '7', SEVEN_ERA),
  z('Atlantic Standard Time', '(UTC-04:00) Atlantic Time (Canada)', 'vista'),
  z('Venezuela Standard Time', '(UTC-04:00) Caracas', 'vista', VISTA_UPDATE),
  z('Central Brazilian Standard Time', '(UTC-04:00) Cuiaba', 'vista'),
  z('SA Western Standard Time', '(UTC-04:00) Georgetown, La Paz, Manaus, San Juan', 'vista'),
  z('Pacific SA Standard Time', '(UTC-04:00) Santiago', 'vista'),
  z('Newfoundland Standard Time', '(UTC-03:30) Newfoundland', 'vista'),
  z('Tocantins Standard Time', '(UTC-03:00) Araguaina', '10', WIN10_2016),
  z('E. South America Standard Time', '(UTC-03:00) Brasilia', 'vista'),
  z('SA Eastern Standard Time', '(UTC-03:00) Cayenne, Fortaleza', 'vista'),
  z('Argentina Standard Time', '(UTC-03:00) City of Buenos Aires', 'vista', VISTA_UPDATE),
  z('Greenland Standard Time', '(UTC-03:00) Greenland', 'vista'),
  z('Montevideo Standard Time', '(UTC-03:00) Montevideo', 'vista'),
  z('Magallanes Standard Time', '(UTC-03:00) Punta Arenas', '10', WIN10_2016),
  z('Saint Pierre Standard Time', '(UTC-03:00) Saint Pierre and Miquelon', '10', WIN10_2016),
  z('Bahia Standard Time', '(UTC-03:00) Salvador', '8.1', 'added by the October 2012 update (after Windows 8 RTM)'),
  z('UTC-02', '(UTC-02:00) Coordinated Universal Time-02', '7', SEVEN_ERA),
  z('Azores Standard Time', '(UTC-01:00) Azores', 'vista'),
  z('Cape Verde Standard Time', '(UTC-01:00) Cabo Verde Is.', 'vista'),
  z('UTC', '(UTC) Coordinated Universal Time', '7', SEVEN_ERA),
  z('GMT Standard Time', '(UTC+00:00) Dublin, Edinburgh, Lisbon, London', 'vista'),
  z('Greenwich Standard Time', '(UTC+00:00) Monrovia, Reykjavik', 'vista'),
  z('Sao Tome Standard Time', '(UTC+00:00) Sao Tome', '10', WIN10_2016),
  z('Morocco Standard Time', '(UTC+01:00) Casablanca', 'vista', VISTA_UPDATE),
  z('W. Europe Standard Time', '(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna', 'vista'),
  z('Central Europe Standard Time', '(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague', 'vista'),
  z('Romance Standard Time', '(UTC+01:00) Brussels, Copenhagen, Madrid, Paris', 'vista'),
  z('Central European Standard Time', '(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb', 'vista'),
  z('W. Central Africa Standard Time', '(UTC+01:00) West Central Africa', 'vista'),
  z('Jordan Standard Time', '(UTC+02:00) Amman', 'vista'),
  z('GTB Standard Time', '(UTC+02:00) Athens, Bucharest', 'vista'),
  z('Middle East Standard Time', '(UTC+02:00) Beirut', 'vista'),
  z('Egypt Standard Time', '(UTC+02:00) Cairo', 'vista'),
  z('E. Europe Standard Time', '(UTC+02:00) Chisinau', 'vista'),
  z('Syria Standard Time', '(UTC+02:00) Damascus', '7', SEVEN_ERA_LATE),
  z('West Bank Standard Time', '(UTC+02:00) Gaza, Hebron', '10', WIN10_2016),
  z('South Africa Standard Time', '(UTC+02:00) Harare, Pretoria', 'vista'),
  z('FLE Standard Time', '(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius', 'vista'),
  z('Israel Standard Time', '(UTC+02:00) Jerusalem', 'vista'),
  z('South Sudan Standard Time', '(UTC+02:00) Juba', '10', 'added by a 2021 update to Windows 10'),
  z('Kaliningrad Standard Time', '(UTC+02:00) Kaliningrad', '8', 'added by the August 2011 update; not on Windows 7 SP1 media'),
  z('Sudan Standard Time', '(UTC+02:00) Khartoum', '10', WIN10_2016),
  z('Libya Standard Time', '(UTC+02:00) Tripoli', '8.1', 'added by the December 2012 update (after Windows 8 RTM)'),
  z('Namibia Standard Time', '(UTC+02:00) Windhoek', 'vista'),
  z('Arabic Standard Time', '(UTC+03:00) Baghdad', 'vista'),
  z('Turkey Standard Time', '(UTC+03:00) Istanbul', '8', 'split from GTB Standard Time by an update between 2011 and October 2012; not on Windows 7 media; taken as in Windows 8 RTM (unverified)'),
  z('Arab Standard Time', '(UTC+03:00) Kuwait, Riyadh', 'vista'),
  z('Belarus Standard Time', '(UTC+03:00) Minsk', '10', 'added with the 2014 Russian changes (KB 2998527), after Windows 8.1'),
  z('Russian Standard Time', '(UTC+03:00) Moscow, St. Petersburg', 'vista'),
  z('E. Africa Standard Time', '(UTC+03:00) Nairobi', 'vista'),
  z('Iran Standard Time', '(UTC+03:30) Tehran', 'vista'),
  z('Arabian Standard Time', '(UTC+04:00) Abu Dhabi, Muscat', 'vista'),
  z('Astrakhan Standard Time', '(UTC+04:00) Astrakhan, Ulyanovsk', '10', WIN10_2016),
  z('Azerbaijan Standard Time', '(UTC+04:00) Baku', 'vista'),
  z('Russia Time Zone 3', '(UTC+04:00) Izhevsk, Samara', '10', 'added with the 2014 Russian changes (KB 2998527), after Windows 8.1'),
  z('Mauritius Standard Time', '(UTC+04:00) Port Louis', 'vista', VISTA_UPDATE),
  z('Saratov Standard Time', '(UTC+04:00) Saratov', '10', WIN10_2016),
  z('Georgian Standard Time', '(UTC+04:00) Tbilisi', 'vista'),
  z('Volgograd Standard Time', '(UTC+04:00) Volgograd', '10', WIN10_2016),
  z('Caucasus Standard Time', '(UTC+04:00) Yerevan', 'vista', 'Yerevan since Windows 7 (Armenian Standard Time before)'),
  z('Afghanistan Standard Time', '(UTC+04:30) Kabul', 'vista'),
  z('West Asia Standard Time', '(UTC+05:00) Ashgabat, Tashkent', 'vista'),
  z('Ekaterinburg Standard Time', '(UTC+05:00) Ekaterinburg', 'vista'),
  z('Pakistan Standard Time', '(UTC+05:00) Islamabad, Karachi', 'vista', VISTA_UPDATE),
  z('Qyzylorda Standard Time', '(UTC+05:00) Qyzylorda', '10', WIN10_2016),
  z('India Standard Time', '(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi', 'vista'),
  z('Sri Lanka Standard Time', '(UTC+05:30) Sri Jayawardenepura', 'vista'),
  z('Nepal Standard Time', '(UTC+05:45) Kathmandu', 'vista'),
  z('Central Asia Standard Time', '(UTC+06:00) Astana', 'vista'),
  z('Bangladesh Standard Time', '(UTC+06:00) Dhaka', '7', SEVEN_ERA_LATE),
  z('Omsk Standard Time', '(UTC+06:00) Omsk', '10', WIN10_2016),
  z('Myanmar Standard Time', '(UTC+06:30) Yangon (Rangoon)', 'vista'),
  z('SE Asia Standard Time', '(UTC+07:00) Bangkok, Hanoi, Jakarta', 'vista'),
  z('Altai Standard Time', '(UTC+07:00) Barnaul, Gorno-Altaysk', '10', WIN10_2016),
  z('W. Mongolia Standard Time', '(UTC+07:00) Hovd', '10', WIN10_2016),
  z('North Asia Standard Time', '(UTC+07:00) Krasnoyarsk', 'vista'),
  z('N. Central Asia Standard Time', '(UTC+07:00) Novosibirsk', 'vista'),
  z('Tomsk Standard Time', '(UTC+07:00) Tomsk', '10', WIN10_2016),
  z('China Standard Time', '(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi', 'vista'),
  z('North Asia East Standard Time', '(UTC+08:00) Irkutsk', 'vista'),
  z('Singapore Standard Time', '(UTC+08:00) Kuala Lumpur, Singapore', 'vista'),
  z('W. Australia Standard Time', '(UTC+08:00) Perth', 'vista'),
  z('Taipei Standard Time', '(UTC+08:00) Taipei', 'vista'),
  z('Ulaanbaatar Standard Time', '(UTC+08:00) Ulaanbaatar', '7', SEVEN_ERA_LATE),
  z('Aus Central W. Standard Time', '(UTC+08:45) Eucla', '10', WIN10_2016),
  z('Transbaikal Standard Time', '(UTC+09:00) Chita', '10', WIN10_2016),
  z('Tokyo Standard Time', '(UTC+09:00) Osaka, Sapporo, Tokyo', 'vista'),
  z('North Korea Standard Time', '(UTC+09:00) Pyongyang', '10', 'added by an August 2015 update, just after Windows 10 1507 shipped'),
  z('Korea Standard Time', '(UTC+09:00) Seoul', 'vista'),
  z('Yakutsk Standard Time', '(UTC+09:00) Yakutsk', 'vista'),
  z('Cen. Australia Standard Time', '(UTC+09:30) Adelaide', 'vista'),
  z('AUS Central Standard Time', '(UTC+09:30) Darwin', 'vista'),
  z('E. Australia Standard Time', '(UTC+10:00) Brisbane', 'vista'),
  z('AUS Eastern Standard Time', '(UTC+10:00) Canberra, Melbourne, Sydney', 'vista'),
  z('West Pacific Standard Time', '(UTC+10:00) Guam, Port Moresby', 'vista'),
  z('Tasmania Standard Time', '(UTC+10:00) Hobart', 'vista'),
  z('Vladivostok Standard Time', '(UTC+10:00) Vladivostok', 'vista'),
  z('Lord Howe Standard Time', '(UTC+10:30) Lord Howe Island', '10', WIN10_2016),
  z('Bougainville Standard Time', '(UTC+11:00) Bougainville Island', '10', WIN10_2016),
  z('Russia Time Zone 10', '(UTC+11:00) Chokurdakh', '10', 'added with the 2014 Russian changes (KB 2998527), after Windows 8.1'),
  z('Magadan Standard Time', '(UTC+11:00) Magadan', '7', SEVEN_ERA_LATE),
  z('Norfolk Standard Time', '(UTC+11:00) Norfolk Island', '10', WIN10_2016),
  z('Sakhalin Standard Time', '(UTC+11:00) Sakhalin', '10', WIN10_2016),
  z('Central Pacific Standard Time', '(UTC+11:00) Solomon Is., New Caledonia', 'vista'),
  z('Russia Time Zone 11', '(UTC+12:00) Anadyr, Petropavlovsk-Kamchatsky', '10', 'added with the 2014 Russian changes (KB 2998527), after Windows 8.1'),
  z('New Zealand Standard Time', '(UTC+12:00) Auckland, Wellington', 'vista'),
  z('UTC+12', '(UTC+12:00) Coordinated Universal Time+12', '7', SEVEN_ERA),
  z('Fiji Standard Time', '(UTC+12:00) Fiji', 'vista'),
  z('Chatham Islands Standard Time', '(UTC+12:45) Chatham Islands', '10', WIN10_2016),
  z('UTC+13', '(UTC+13:00) Coordinated Universal Time+13', '10', WIN10_2016),
  z('Tonga Standard Time', "(UTC+13:00) Nuku'alofa", 'vista'),
  z('Samoa Standard Time', '(UTC+13:00) Samoa', 'vista', 'UTC-11:00 "Midway Island, Samoa" until Samoa crossed the date line (December 2011 update)'),
  z('Line Islands Standard Time', '(UTC+14:00) Kiritimati Island', '8.1', 'added between late 2012 and 2015; whether Windows 8.1 media have it is unverified'),
  // Still in the registry of current Windows, but CLDR no longer maps them.
  z('Mid-Atlantic Standard Time', '(UTC-02:00) Mid-Atlantic - Old', 'vista', 'kept in the registry for old settings and shown as "- Old"'),
  z('Kamchatka Standard Time', '(UTC+12:00) Petropavlovsk-Kamchatsky - Old', '7', 'in the Windows 7 set; superseded by Russia Time Zone 11 in 2014 but kept'),
  // Vista only: gone from the Windows 7 registry (absent from the 2008 R2 set).
  z('Armenian Standard Time', '(GMT+04:00) Yerevan', 'vista', 'Windows 7 folds Yerevan into Caucasus Standard Time', 'vista'),
  z('Mexico Standard Time', '(GMT-06:00) Guadalajara, Mexico City, Monterrey - Old', 'vista', 'the pre-2007 Mexico rules; replaced by Central Standard Time (Mexico)', 'vista'),
  z('Mexico Standard Time 2', '(GMT-07:00) Chihuahua, La Paz, Mazatlan - Old', 'vista', 'the pre-2007 Mexico rules; replaced by Mountain Standard Time (Mexico)', 'vista'),
];

const BY_ID = new Map(TIME_ZONES.map((t): [string, TimeZone] => [t.id, t]));
const BY_LOWER = new Map(TIME_ZONES.map((t): [string, TimeZone] => [t.id.toLowerCase(), t]));
const BY_DISPLAY = new Map(TIME_ZONES.filter((t) => t.display).map((t): [string, TimeZone] => [t.display!.toLowerCase(), t]));

/** Setup accepts "<id>_dstoff" to turn daylight saving off (Shell-Setup TimeZone reference). */
const DSTOFF = '_dstoff';

function stripDstOff(id: string): string {
  return id.endsWith(DSTOFF) ? id.slice(0, -DSTOFF.length) : id;
}


/**
 * Whether `id` is a time zone that `release` knows as shipped: exact and case-sensitive, as Setup
 * compares it. 'not-in-release' means the id exists in other releases (added later or removed).
 */
export function timeZoneIn(id: string, release: Release): 'ok' | 'unknown' | 'not-in-release' {
  const t = BY_ID.get(stripDstOff(id));
  if (!t) return 'unknown';
  return inRange(release, t.since, t.until) ? 'ok' : 'not-in-release';
}


/**
 * The id the author probably meant: a case slip ("w. europe standard time"), a display name, a
 * name without "Standard" ("Mountain Time", "Pacific", "Central European Time"), a daylight or
 * summer name, or a small typo. Undefined when nothing is close.
 */
export function suggestTimeZone(id: string): string | undefined {
  const raw = stripDstOff(id.trim().replace(/\s+/g, ' '));
  if (!raw) return undefined;
  const lower = raw.toLowerCase();
  const direct = BY_LOWER.get(lower) ?? BY_DISPLAY.get(lower);
  if (direct) return direct.id;
  // Names people write instead of the key: "X Time", "X Daylight Time", "X Summer Time", "X".
  const stem = lower.replace(/ (standard|daylight|summer) time$/, '').replace(/ time$/, '');
  const rewritten = BY_LOWER.get(`${stem} standard time`) ?? BY_LOWER.get(stem);
  if (rewritten) return rewritten.id;
  // A display name with another offset prefix or none ("(GMT+01:00) Amsterdam, ...", "Mountain
  // Time (US & Canada)").
  const place = lower.replace(/^\((utc|gmt)[^)]*\)\s*/, '');
  for (const t of TIME_ZONES) if (t.display && t.display.toLowerCase().replace(/^\([^)]*\)\s*/, '') === place) return t.id;
  let best: TimeZone | undefined;
  let bestD = Infinity;
  // Numbers are offsets: "UTC+1" is not a typo of "UTC+12".
  const digits = (s: string): string => s.replace(/\D/g, '');
  for (const t of TIME_ZONES) {
    if (digits(lower) !== digits(t.id)) continue;
    const d = Math.min(distance(lower, t.id.toLowerCase()), distance(`${stem} standard time`, t.id.toLowerCase()));
    if (d < bestD) {
      bestD = d;
      best = t;
    }
  }
  // Allow about one slip per five characters, at least two.
  const limit = Math.max(2, Math.floor(raw.length / 5));
  return best && bestD <= limit ? best.id : undefined;
}
