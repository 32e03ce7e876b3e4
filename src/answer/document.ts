// The answer-file model: an unattend document as Windows Setup reads it. Names follow Microsoft's
// unattend reference exactly (passes, components, settings), so that what an administrator sees
// here is what WSIM shows. Every node can carry the position it was read from, for diagnostics.

/** The namespace of the <unattend> root and of everything under it. */
export const UNATTEND_NS = 'urn:schemas-microsoft-com:unattend';
/** wcm:action / wcm:keyValue live in this namespace (declared on each component by WSIM). */
export const WCM_NS = 'http://schemas.microsoft.com/WMIConfig/2002/State';
export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
/** The public key token of every Windows component. */
export const PUBLIC_KEY_TOKEN = '31bf3856ad364e35';
/**
 * Longest command overnight lets Setup run (CommandLine, RunSynchronousCommand/Path): 255, the
 * figure long used for every release (the reference gives 259 and 1024 for some fields today).
 */
export const MAX_COMMAND = 255;

/** 1-based line and column of an element's start tag in its file. */
export interface Position {
  line: number;
  column: number;
}

export type WcmAction = 'add' | 'modify' | 'remove';

/** An element below a component: a container of settings, or a leaf with a text value. */
export interface SettingNode {
  name: string;
  /** Text of a leaf (undefined for a container, '' for an empty element). */
  value?: string;
  children?: SettingNode[];
  /** wcm:action, on items of a list (RunSynchronousCommand, LocalAccount, Disk...). */
  action?: WcmAction;
  /** wcm:keyValue, the key of list items that have no key element (PathAndCredentials). */
  keyValue?: string;
  /** Other attributes, kept as read (rare: xsi:nil...). Keys are qualified names. */
  attributes?: Record<string, string>;
  pos?: Position;
}

/** <component name=... processorArchitecture=...> inside a pass. */
export interface ComponentNode {
  name: string;
  processorArchitecture: string;
  publicKeyToken: string;
  language: string;
  versionScope: string;
  settings: SettingNode[];
  pos?: Position;
}

/** <settings pass="...">. */
export interface PassNode {
  pass: string;
  components: ComponentNode[];
  pos?: Position;
}

export interface UnattendDocument {
  passes: PassNode[];
  /**
   * Elements directly under <unattend> that are not <settings> (WSIM's <cpi:offlineImage>,
   * <servicing>), kept as XML text so that a round trip does not lose them.
   */
  extra: { name: string; xml: string; pos?: Position }[];
}

/** Every component named `name` in pass `pass` (a pass may appear twice, a component once per architecture). */
export function componentsIn(doc: UnattendDocument, pass: string, name: string): ComponentNode[] {
  return doc.passes.filter((p) => p.pass === pass).flatMap((p) => p.components).filter((c) => c.name === name);
}

/** The setting at a path of element names below a component (`['OOBE', 'HideEULAPage']`). */
export function findSetting(nodes: readonly SettingNode[] | undefined, path: readonly string[]): SettingNode | undefined {
  let cur: SettingNode | undefined;
  let list = nodes;
  for (const name of path) {
    cur = list?.find((n) => n.name === name);
    if (!cur) return undefined;
    list = cur.children;
  }
  return cur;
}

/** A leaf. */
export const leaf = (name: string, value: string | number | boolean): SettingNode => ({ name, value: String(value) });

/** A container; undefined children (skipped settings) are left out, and so is an empty container. */
export function node(name: string, children: readonly (SettingNode | undefined)[], extra: Partial<SettingNode> = {}): SettingNode | undefined {
  const kids = children.filter((c): c is SettingNode => c !== undefined);
  if (!kids.length) return undefined;
  return { name, children: kids, ...extra };
}

/** An item of a wcm:action="add" list. */
export function item(name: string, children: readonly (SettingNode | undefined)[], keyValue?: string): SettingNode {
  const kids = children.filter((c): c is SettingNode => c !== undefined);
  return { name, children: kids, action: 'add', ...(keyValue !== undefined ? { keyValue } : {}) };
}
