// The few libc socket calls overnight makes directly (Linux, through koffi): SO_BINDTODEVICE
// sockets for the DHCP server (iface.ts), and the TFTP transfer workers' blocking
// poll/recv/send loop, which costs about what a C server's loop costs, with none of libuv's
// per-packet work. Loaded on demand; undefined where koffi or libc.so.6 is missing.
import { constants as osConstants } from 'node:os';

export interface SocketSys {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  /** `msgvec`: struct mmsghdr[] (64 bytes each on 64-bit Linux); returns how many were sent. */
  sendmmsg(fd: number, msgvec: Uint8Array, vlen: number, flags: number): number;
  /** The address of a buffer's first byte (stable: Buffers from allocUnsafeSlow never move). */
  addressOf(buf: Uint8Array): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  /** `fds`: struct pollfd[] (int fd, short events, short revents), 8 bytes each. */
  poll(fds: Uint8Array, nfds: number, timeoutMs: number): number;
  pipe2(fds: Int32Array, flags: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  close(fd: number): number;
  errno(): number;
}

// Linux values (x86-64 and arm64 alike).
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_BROADCAST = 6;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_BINDTODEVICE = 25;
export const SO_RCVBUFFORCE = 33;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const EAGAIN = 11;
export const EINTR = 4;
export const ECONNREFUSED = 111;

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

export function errnoName(n: number): string {
  return errnoNames.get(n) ?? `errno ${n}`;
}

let loaded: SocketSys | null | undefined;

/** The calls, or undefined (not Linux, koffi cannot load, no glibc). Synchronous after the first load. */
export async function socketSys(): Promise<SocketSys | undefined> {
  if (loaded !== undefined) return loaded ?? undefined;
  if (process.platform !== 'linux') {
    loaded = null;
    return undefined;
  }
  try {
    const koffi = (await import('koffi')).default;
    const libc = koffi.load('libc.so.6');
    const n = (f: (...a: never[]) => unknown) => (...a: unknown[]) => Number((f as (...x: unknown[]) => unknown)(...a));
    loaded = {
      socket: libc.func('int socket(int domain, int type, int protocol)'),
      setsockopt: libc.func('int setsockopt(int fd, int level, int name, const uint8_t *value, uint32_t len)'),
      bind: libc.func('int bind(int fd, const uint8_t *addr, uint32_t len)'),
      connect: libc.func('int connect(int fd, const uint8_t *addr, uint32_t len)'),
      send: n(libc.func('intptr_t send(int fd, const uint8_t *buf, size_t len, int flags)')),
      sendmmsg: libc.func('int sendmmsg(int fd, uint8_t *msgvec, unsigned int vlen, int flags)'),
      // memmove(p, p, 0) returns p: koffi hands a Buffer's own memory, so this is its address.
      addressOf: ((memmove: (d: Uint8Array, s: Uint8Array, n: number) => unknown) => (b: Uint8Array) => Number(memmove(b, b, 0)))(
        libc.func('uintptr_t memmove(uint8_t *dst, const uint8_t *src, size_t n)'),
      ),
      recv: n(libc.func('intptr_t recv(int fd, uint8_t *buf, size_t len, int flags)')),
      poll: libc.func('int poll(uint8_t *fds, unsigned long nfds, int timeout)'),
      pipe2: libc.func('int pipe2(int32_t *fds, int flags)'),
      read: n(libc.func('intptr_t read(int fd, uint8_t *buf, size_t len)')),
      close: libc.func('int close(int fd)'),
      errno: () => koffi.errno(),
    } as SocketSys;
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}

/** struct sockaddr_in for an IPv4 address and port. */
export function sockaddrIn(address: string, port: number): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  address.split('.').forEach((p, i) => (sa[4 + i] = Number(p)));
  return sa;
}
