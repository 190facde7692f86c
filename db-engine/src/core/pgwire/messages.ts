/**
 * The PostgreSQL v3 wire protocol's messages (https://www.postgresql.org/docs/current/protocol-message-formats.html):
 * a streaming decoder of what clients send and encoders of what the server answers. Pure: bytes in,
 * messages out, no sockets.
 *
 * Every message after the startup phase is a type byte, an int32 length that counts itself but not
 * the type byte, and a body. Startup-phase messages (StartupMessage, SSLRequest, GSSENCRequest,
 * CancelRequest) have no type byte: an int32 length, then an int32 code. A length that is too small,
 * above the configured maximum, or a body that does not parse exactly is a `PgProtocolError`, which
 * the connection answers with ErrorResponse 08P01 (or 54000 for too large) and a close: after a
 * framing error the rest of the stream cannot be trusted.
 */

/** Protocol 3.0 in StartupMessage. */
export const PROTOCOL_VERSION_3 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** PostgreSQL's own bound on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const STARTUP_MESSAGE_BYTES_MAX = 10_000;
/** Default bound on one message of the normal phase; configurable per server. */
export const MESSAGE_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
/** Bound on the parameters of one Bind, and the parameter types of one Parse (PostgreSQL: 65535). */
export const PARAMETERS_MAX = 65_535;

/** A malformed or out-of-bounds message: answered with ErrorResponse (sqlstate) and a close. */
export class PgProtocolError extends Error {
  override readonly name = 'PgProtocolError';
  constructor(
    readonly sqlstate: '08P01' | '54000' | '22021' | '0A000',
    message: string,
  ) {
    super(message);
  }
}

export type StartupMessage =
  | {
      readonly type: 'Startup';
      readonly protocolVersion: number;
      readonly parameters: ReadonlyMap<string, string>;
    }
  | { readonly type: 'SSLRequest' }
  | { readonly type: 'GSSENCRequest' }
  | { readonly type: 'CancelRequest'; readonly processId: number; readonly secretKey: number };

export type FormatCode = 0 | 1;

export type FrontendMessage =
  | { readonly type: 'Query'; readonly sql: string }
  | {
      readonly type: 'Parse';
      readonly name: string;
      readonly sql: string;
      readonly parameterTypes: readonly number[];
    }
  | {
      readonly type: 'Bind';
      readonly portal: string;
      readonly statement: string;
      readonly parameterFormats: readonly FormatCode[];
      readonly parameters: readonly (Uint8Array | null)[];
      readonly resultFormats: readonly FormatCode[];
    }
  | { readonly type: 'Describe'; readonly kind: 'S' | 'P'; readonly name: string }
  | { readonly type: 'Execute'; readonly portal: string; readonly maxRows: number }
  | { readonly type: 'Close'; readonly kind: 'S' | 'P'; readonly name: string }
  | { readonly type: 'Sync' }
  | { readonly type: 'Flush' }
  | { readonly type: 'Terminate' }
  /** COPY FROM STDIN's data, its end, or the client giving up on it (with why). */
  | { readonly type: 'CopyData'; readonly data: Uint8Array }
  | { readonly type: 'CopyDone' }
  | { readonly type: 'CopyFail'; readonly message: string }
  /** 'p': a password, SASLInitialResponse or SASLResponse; which one depends on the auth state. */
  | { readonly type: 'Password'; readonly body: Uint8Array };

export type DecodedMessage = StartupMessage | FrontendMessage;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new PgProtocolError('22021', 'invalid byte sequence for encoding "UTF8"');
  }
}

export function encodeUtf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Reads the fields of one message body; any overrun is a PgProtocolError. */
export class BodyReader {
  private offset = 0;
  private readonly view: DataView;
  constructor(private readonly body: Uint8Array) {
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }

  get remaining(): number {
    return this.body.length - this.offset;
  }

  private need(bytes: number): void {
    if (bytes < 0 || this.offset + bytes > this.body.length) {
      throw new PgProtocolError('08P01', 'insufficient data left in message');
    }
  }

  int16(): number {
    this.need(2);
    const value = this.view.getInt16(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.view.getInt32(this.offset);
    this.offset += 4;
    return value;
  }

  byte(): number {
    this.need(1);
    const value = this.body[this.offset] as number;
    this.offset += 1;
    return value;
  }

  bytes(length: number): Uint8Array {
    this.need(length);
    const value = this.body.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new PgProtocolError('08P01', 'invalid string in message');
    const value = decodeUtf8(this.body.subarray(this.offset, end));
    this.offset = end + 1;
    return value;
  }

  /** A message must be consumed exactly: trailing bytes mean the client and server disagree. */
  end(): void {
    if (this.offset !== this.body.length) {
      throw new PgProtocolError('08P01', 'invalid message format');
    }
  }
}

function count(reader: BodyReader, what: string): number {
  const value = reader.int16();
  // int16 on the wire, but PostgreSQL reads these counts as unsigned.
  const unsigned = value < 0 ? value + 65_536 : value;
  if (unsigned > PARAMETERS_MAX) throw new PgProtocolError('08P01', `too many ${what}`);
  return unsigned;
}

function formatCode(value: number): FormatCode {
  if (value !== 0 && value !== 1) {
    throw new PgProtocolError('08P01', `unsupported format code: ${value}`);
  }
  return value;
}

function describeKind(value: number): 'S' | 'P' {
  if (value === 0x53) return 'S';
  if (value === 0x50) return 'P';
  throw new PgProtocolError('08P01', `invalid DESCRIBE/CLOSE message subtype ${value}`);
}

export function decodeStartup(body: Uint8Array): StartupMessage {
  const reader = new BodyReader(body);
  const code = reader.int32();
  if (code === SSL_REQUEST_CODE) {
    reader.end();
    return { type: 'SSLRequest' };
  }
  if (code === GSSENC_REQUEST_CODE) {
    reader.end();
    return { type: 'GSSENCRequest' };
  }
  if (code === CANCEL_REQUEST_CODE) {
    const processId = reader.int32();
    const secretKey = reader.int32();
    reader.end();
    return { type: 'CancelRequest', processId, secretKey };
  }
  if (code >>> 16 !== 3) {
    throw new PgProtocolError(
      '0A000',
      `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: server supports 3.0 to 3.0`,
    );
  }
  const parameters = new Map<string, string>();
  for (;;) {
    const name = reader.cstring();
    if (name === '') break;
    parameters.set(name, reader.cstring());
  }
  reader.end();
  return { type: 'Startup', protocolVersion: code, parameters };
}

export function decodeFrontend(type: number, body: Uint8Array): FrontendMessage {
  const reader = new BodyReader(body);
  const message = decodeBody(type, reader, body);
  reader.end();
  return message;
}

function decodeBody(type: number, reader: BodyReader, body: Uint8Array): FrontendMessage {
  switch (type) {
    case 0x51: // Q
      return { type: 'Query', sql: reader.cstring() };
    case 0x50: {
      // P
      const name = reader.cstring();
      const sql = reader.cstring();
      const typeCount = count(reader, 'parameter types');
      const parameterTypes: number[] = [];
      for (let index = 0; index < typeCount; index++) parameterTypes.push(reader.int32() >>> 0);
      return { type: 'Parse', name, sql, parameterTypes };
    }
    case 0x42:
      return decodeBind(reader);
    case 0x44: {
      // D
      const kind = describeKind(reader.byte());
      return { type: 'Describe', kind, name: reader.cstring() };
    }
    case 0x45: {
      // E
      const portal = reader.cstring();
      const maxRows = reader.int32();
      return { type: 'Execute', portal, maxRows: maxRows <= 0 ? 0 : maxRows };
    }
    case 0x43: {
      // C
      const kind = describeKind(reader.byte());
      return { type: 'Close', kind, name: reader.cstring() };
    }
    case 0x53:
      return { type: 'Sync' };
    case 0x48:
      return { type: 'Flush' };
    case 0x58:
      return { type: 'Terminate' };
    case 0x70:
      reader.bytes(body.length);
      return { type: 'Password', body };
    case 0x64: // d
      reader.bytes(body.length);
      return { type: 'CopyData', data: body };
    case 0x63: // c
      return { type: 'CopyDone' };
    case 0x66: // f
      return { type: 'CopyFail', message: reader.cstring() };
    default:
      throw new PgProtocolError('08P01', `invalid frontend message type ${type}`);
  }
}

function decodeBind(reader: BodyReader): FrontendMessage {
  const portal = reader.cstring();
  const statement = reader.cstring();
  const formatCount = count(reader, 'parameter formats');
  const parameterFormats: FormatCode[] = [];
  for (let index = 0; index < formatCount; index++) {
    parameterFormats.push(formatCode(reader.int16()));
  }
  const parameterCount = count(reader, 'parameters');
  const parameters: (Uint8Array | null)[] = [];
  for (let index = 0; index < parameterCount; index++) {
    const length = reader.int32();
    if (length < -1) throw new PgProtocolError('08P01', 'invalid parameter length');
    parameters.push(length === -1 ? null : reader.bytes(length));
  }
  const resultCount = count(reader, 'result formats');
  const resultFormats: FormatCode[] = [];
  for (let index = 0; index < resultCount; index++) {
    resultFormats.push(formatCode(reader.int16()));
  }
  return { type: 'Bind', portal, statement, parameterFormats, parameters, resultFormats };
}

/**
 * Accumulates bytes and cuts them into messages. Starts in the startup phase (no type byte) and
 * leaves it after a StartupMessage; a SSLRequest, GSSENCRequest or CancelRequest keeps it there.
 * Buffered bytes are bounded by the caller, who stops reading while `bufferedBytes` is high.
 */
export class FrontendDecoder {
  /**
   * Bytes [start, end) are buffered and not yet cut; [end, length) is room for the next chunks. A
   * byte before `end` is never written again: a message handed out may keep views into the buffer
   * (a Bind's parameters live in their portal until Execute), so when the room runs out the pending
   * bytes move to a new buffer, never to the front of this one.
   */
  private buffer: Uint8Array = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private startupPhase = true;

  constructor(private readonly messageBytesMax: number = MESSAGE_BYTES_MAX_DEFAULT) {}

  get bufferedBytes(): number {
    return this.end - this.start;
  }

  get inStartupPhase(): boolean {
    return this.startupPhase;
  }

  /**
   * Appends a chunk, into the room left when it fits, else into a new buffer at least twice what is
   * pending: each byte is copied a bounded number of times on average. (Copying everything pending
   * at every chunk made a 16 MiB message in 64 KiB chunks copy about 2 GiB.)
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.buffer.length - this.end >= chunk.length) {
      this.buffer.set(chunk, this.end);
      this.end += chunk.length;
      return;
    }
    const pending = this.end - this.start;
    const needed = pending + chunk.length;
    // Room for at least as much again (not the length a header announces: a client could announce
    // 16 MiB and send five bytes), so a long message is copied O(log n) times.
    const grown = new Uint8Array(Math.max(needed, 2 * pending));
    grown.set(this.buffer.subarray(this.start, this.end), 0);
    grown.set(chunk, pending);
    this.buffer = grown;
    this.start = 0;
    this.end = needed;
  }

  /** The next complete message, or null when more bytes are needed. Throws PgProtocolError. */
  next(): DecodedMessage | null {
    return this.startupPhase ? this.nextStartup() : this.nextNormal();
  }

  private int32At(offset: number): number {
    const bytes = this.buffer;
    return (
      (((bytes[offset] as number) << 24) |
        ((bytes[offset + 1] as number) << 16) |
        ((bytes[offset + 2] as number) << 8) |
        (bytes[offset + 3] as number)) >>>
      0
    );
  }

  /**
   * Looks ahead, without consuming, at the complete messages already buffered: how many Execute and
   * Describe messages come before the next Sync, or null when no Sync is buffered yet. The
   * connection uses it to tell a lone Bind/Describe/Execute/Sync (autocommit is the same thing as
   * the implicit transaction) from a pipeline of several executions that must share one.
   */
  executionsBeforeSync(): number | null {
    if (this.startupPhase) return null;
    let offset = this.start;
    let executions = 0;
    while (this.end - offset >= 5) {
      const type = this.buffer[offset] as number;
      if (type === 0x53) return executions;
      if (type === 0x45 || type === 0x44) executions += 1;
      const length = this.int32At(offset + 1);
      if (length < 4) return null;
      offset += length + 1;
    }
    return null;
  }

  private nextStartup(): StartupMessage | null {
    if (this.bufferedBytes < 4) return null;
    const length = this.int32At(this.start);
    if (length < 8 || length > STARTUP_MESSAGE_BYTES_MAX) {
      throw new PgProtocolError('08P01', `invalid length of startup packet: ${length}`);
    }
    if (this.bufferedBytes < length) return null;
    const body = this.buffer.subarray(this.start + 4, this.start + length);
    this.start += length;
    const message = decodeStartup(body);
    if (message.type === 'Startup') this.startupPhase = false;
    return message;
  }

  private nextNormal(): FrontendMessage | null {
    if (this.bufferedBytes < 5) return null;
    const type = this.buffer[this.start] as number;
    const length = this.int32At(this.start + 1);
    if (length < 4) throw new PgProtocolError('08P01', `invalid message length: ${length}`);
    if (length > this.messageBytesMax) {
      throw new PgProtocolError(
        '54000',
        `message of ${length} bytes exceeds the maximum of ${this.messageBytesMax} bytes`,
      );
    }
    if (this.bufferedBytes < length + 1) return null;
    const body = this.buffer.subarray(this.start + 5, this.start + 1 + length);
    this.start += length + 1;
    return decodeFrontend(type, body);
  }
}

// ---------------------------------------------------------------------------------------------
// Backend messages.

/** Builds one or more backend messages into one buffer. */
export class MessageWriter {
  private bytes = new Uint8Array(256);
  private length = 0;
  private messageStart = -1;

  private ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  begin(type: string): this {
    this.ensure(5);
    this.bytes[this.length] = type.charCodeAt(0);
    this.messageStart = this.length + 1;
    this.length += 5;
    return this;
  }

  end(): this {
    const size = this.length - this.messageStart;
    new DataView(this.bytes.buffer).setInt32(this.messageStart, size);
    this.messageStart = -1;
    return this;
  }

  int8(value: number): this {
    this.ensure(1);
    this.bytes[this.length++] = value & 0xff;
    return this;
  }

  int16(value: number): this {
    this.ensure(2);
    new DataView(this.bytes.buffer).setInt16(this.length, value);
    this.length += 2;
    return this;
  }

  int32(value: number): this {
    this.ensure(4);
    new DataView(this.bytes.buffer).setInt32(this.length, value | 0);
    this.length += 4;
    return this;
  }

  raw(value: Uint8Array): this {
    this.ensure(value.length);
    this.bytes.set(value, this.length);
    this.length += value.length;
    return this;
  }

  cstring(value: string): this {
    this.raw(encodeUtf8(value));
    return this.int8(0);
  }

  get byteLength(): number {
    return this.length;
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

export function authenticationOk(writer: MessageWriter): void {
  writer.begin('R').int32(0).end();
}

export function authenticationCleartextPassword(writer: MessageWriter): void {
  writer.begin('R').int32(3).end();
}

export function authenticationSasl(writer: MessageWriter, mechanisms: readonly string[]): void {
  writer.begin('R').int32(10);
  for (const mechanism of mechanisms) writer.cstring(mechanism);
  writer.int8(0).end();
}

export function authenticationSaslContinue(writer: MessageWriter, data: string): void {
  writer.begin('R').int32(11).raw(encodeUtf8(data)).end();
}

export function authenticationSaslFinal(writer: MessageWriter, data: string): void {
  writer.begin('R').int32(12).raw(encodeUtf8(data)).end();
}

/** 'v': the newest minor version this server speaks and the protocol options it did not recognise. */
export function negotiateProtocolVersion(
  writer: MessageWriter,
  newestMinor: number,
  unrecognisedOptions: readonly string[],
): void {
  writer
    .begin('v')
    .int32((3 << 16) | newestMinor)
    .int32(unrecognisedOptions.length);
  for (const option of unrecognisedOptions) writer.cstring(option);
  writer.end();
}

export function parameterStatus(writer: MessageWriter, name: string, value: string): void {
  writer.begin('S').cstring(name).cstring(value).end();
}

/** NotificationResponse ('A'): a NOTIFY on a channel the session listens on. */
export function notificationResponse(
  writer: MessageWriter,
  notification: { readonly processId: number; readonly channel: string; readonly payload: string },
): void {
  writer
    .begin('A')
    .int32(notification.processId)
    .cstring(notification.channel)
    .cstring(notification.payload)
    .end();
}

export function backendKeyData(writer: MessageWriter, processId: number, secretKey: number): void {
  writer.begin('K').int32(processId).int32(secretKey).end();
}

export type TransactionStatus = 'I' | 'T' | 'E';

export function readyForQuery(writer: MessageWriter, status: TransactionStatus): void {
  writer.begin('Z').int8(status.charCodeAt(0)).end();
}

export interface ColumnDescription {
  readonly name: string;
  readonly typeOid: number;
  readonly typeSize: number;
  readonly format: FormatCode;
}

export function rowDescription(writer: MessageWriter, columns: readonly ColumnDescription[]): void {
  writer.begin('T').int16(columns.length);
  for (const column of columns) {
    // table OID 0 and column number 0: the column is not a simple reference to a table column
    // (we do not know it), and type modifier -1 (none).
    writer
      .cstring(column.name)
      .int32(0)
      .int16(0)
      .int32(column.typeOid)
      .int16(column.typeSize)
      .int32(-1)
      .int16(column.format);
  }
  writer.end();
}

export function dataRow(writer: MessageWriter, values: readonly (Uint8Array | null)[]): void {
  writer.begin('D').int16(values.length);
  for (const value of values) {
    if (value === null) writer.int32(-1);
    else writer.int32(value.length).raw(value);
  }
  writer.end();
}

export function commandComplete(writer: MessageWriter, tag: string): void {
  writer.begin('C').cstring(tag).end();
}

/** CopyInResponse ('G') or CopyOutResponse ('H'): text format, for every one of `columnCount` columns. */
export function copyResponse(writer: MessageWriter, direction: 'in' | 'out', columnCount: number): void {
  writer
    .begin(direction === 'in' ? 'G' : 'H')
    .int8(0)
    .int16(columnCount);
  for (let index = 0; index < columnCount; index++) writer.int16(0);
  writer.end();
}

export function copyData(writer: MessageWriter, data: Uint8Array): void {
  writer.begin('d').raw(data).end();
}

export function copyDone(writer: MessageWriter): void {
  writer.begin('c').end();
}

export function emptyQueryResponse(writer: MessageWriter): void {
  writer.begin('I').end();
}

export function parseComplete(writer: MessageWriter): void {
  writer.begin('1').end();
}

export function bindComplete(writer: MessageWriter): void {
  writer.begin('2').end();
}

export function closeComplete(writer: MessageWriter): void {
  writer.begin('3').end();
}

export function noData(writer: MessageWriter): void {
  writer.begin('n').end();
}

export function portalSuspended(writer: MessageWriter): void {
  writer.begin('s').end();
}

export function parameterDescription(writer: MessageWriter, typeOids: readonly number[]): void {
  writer.begin('t').int16(typeOids.length);
  for (const oid of typeOids) writer.int32(oid);
  writer.end();
}

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG';

export interface ErrorFields {
  readonly severity: Severity;
  readonly sqlstate: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  /** P: the 1-based character position in the query string the error is at (psql's `LINE 1: … ^`). */
  readonly position?: number;
  /** CONTEXT, where the error happened (COPY: `COPY t, line 3: "…"`). */
  readonly where?: string;
  /** The object an integrity violation concerns (error-fields.ts). */
  readonly schema?: string;
  readonly table?: string;
  readonly column?: string;
  readonly constraint?: string;
}

function errorOrNotice(writer: MessageWriter, type: 'E' | 'N', fields: ErrorFields): void {
  writer.begin(type);
  writer.int8(0x53).cstring(fields.severity); // S: localized severity
  writer.int8(0x56).cstring(fields.severity); // V: severity, never localized
  writer.int8(0x43).cstring(fields.sqlstate); // C
  writer.int8(0x4d).cstring(fields.message); // M
  if (fields.detail !== undefined) writer.int8(0x44).cstring(fields.detail); // D
  if (fields.hint !== undefined) writer.int8(0x48).cstring(fields.hint); // H
  if (fields.position !== undefined) writer.int8(0x50).cstring(String(fields.position)); // P
  if (fields.where !== undefined) writer.int8(0x57).cstring(fields.where); // W
  if (fields.schema !== undefined) writer.int8(0x73).cstring(fields.schema); // s
  if (fields.table !== undefined) writer.int8(0x74).cstring(fields.table); // t
  if (fields.column !== undefined) writer.int8(0x63).cstring(fields.column); // c
  if (fields.constraint !== undefined) writer.int8(0x6e).cstring(fields.constraint); // n
  writer.int8(0).end();
}

export function errorResponse(writer: MessageWriter, fields: ErrorFields): void {
  errorOrNotice(writer, 'E', fields);
}

export function noticeResponse(writer: MessageWriter, fields: ErrorFields): void {
  errorOrNotice(writer, 'N', fields);
}

/** The one-byte answers to SSLRequest / GSSENCRequest: 'S' (go ahead with TLS) or 'N' (no). */
export function sslAnswer(accept: boolean): Uint8Array {
  return Uint8Array.of(accept ? 0x53 : 0x4e);
}
