// A request that cannot be served, with the status it gets and the context that explains why.

export class HttpError extends Error {
  readonly status: number;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(status: number, message: string, context: Record<string, unknown> = {}) {
    const where = Object.entries(context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    super(where ? `${message} (${where})` : message);
    this.name = 'HttpError';
    this.status = status;
    this.context = context;
  }
}
