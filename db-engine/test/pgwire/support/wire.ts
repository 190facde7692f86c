/**
 * A minimal frontend for tests: encoders of what clients send, and a decoder of what the server
 * answers, written from the protocol documentation independently of src/core/pgwire/messages.ts so
 * the two check each other.
 */

const encoder = new TextEncoder();

class Bytes {
  private readonly parts: number[] = [];
  int8(value: number): this {
    this.parts.push(value & 0xff);
    return this;
  }
  int16(value: number): this {
    this.parts.push((value >> 8) & 0xff, value & 0xff);
    return this;
  }
  int32(value: number): this {
    this.parts.push((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
    return this;
  }
  raw(bytes: Uint8Array): this {
    for (const byte of bytes) this.parts.push(byte);
    return this;
  }
  cstring(text: string): this {
    return this.raw(encoder.encode(text)).int8(0);
  }
  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function message(type: string, body: Uint8Array): Uint8Array {
  return new Bytes()
    .int8(type.charCodeAt(0))
    .int32(body.length + 4)
    .raw(body)
    .build();
}

export const frontend = {
  startup(parameters: Record<string, string>, protocolVersion = 196608): Uint8Array {
    const body = new Bytes().int32(protocolVersion);
    for (const [name, value] of Object.entries(parameters)) body.cstring(name).cstring(value);
    const inner = body.int8(0).build();
    return new Bytes()
      .int32(inner.length + 4)
      .raw(inner)
      .build();
  },
  sslRequest(): Uint8Array {
    return new Bytes().int32(8).int32(80877103).build();
  },
  gssencRequest(): Uint8Array {
    return new Bytes().int32(8).int32(80877104).build();
  },
  cancelRequest(processId: number, secretKey: number): Uint8Array {
    return new Bytes().int32(16).int32(80877102).int32(processId).int32(secretKey).build();
  },
  query(sql: string): Uint8Array {
    return message('Q', new Bytes().cstring(sql).build());
  },
  parse(name: string, sql: string, types: readonly number[] = []): Uint8Array {
    const body = new Bytes().cstring(name).cstring(sql).int16(types.length);
    for (const type of types) body.int32(type);
    return message('P', body.build());
  },
  bind(
    portal: string,
    statement: string,
    parameters: readonly (Uint8Array | string | null)[],
    parameterFormats: readonly number[] = [],
    resultFormats: readonly number[] = [],
  ): Uint8Array {
    const body = new Bytes().cstring(portal).cstring(statement).int16(parameterFormats.length);
    for (const format of parameterFormats) body.int16(format);
    body.int16(parameters.length);
    for (const parameter of parameters) {
      if (parameter === null) body.int32(-1);
      else {
        const bytes = typeof parameter === 'string' ? encoder.encode(parameter) : parameter;
        body.int32(bytes.length).raw(bytes);
      }
    }
    body.int16(resultFormats.length);
    for (const format of resultFormats) body.int16(format);
    return message('B', body.build());
  },
  describe(kind: 'S' | 'P', name: string): Uint8Array {
    return message('D', new Bytes().int8(kind.charCodeAt(0)).cstring(name).build());
  },
  execute(portal: string, maxRows = 0): Uint8Array {
    return message('E', new Bytes().cstring(portal).int32(maxRows).build());
  },
  close(kind: 'S' | 'P', name: string): Uint8Array {
    return message('C', new Bytes().int8(kind.charCodeAt(0)).cstring(name).build());
  },
  sync: (): Uint8Array => message('S', new Uint8Array(0)),
  flush: (): Uint8Array => message('H', new Uint8Array(0)),
  terminate: (): Uint8Array => message('X', new Uint8Array(0)),
  password(body: Uint8Array): Uint8Array {
    return message('p', body);
  },
  saslInitial(mechanism: string, data: string): Uint8Array {
    const bytes = encoder.encode(data);
    return message('p', new Bytes().cstring(mechanism).int32(bytes.length).raw(bytes).build());
  },
  saslResponse(data: string): Uint8Array {
    return message('p', encoder.encode(data));
  },
  copyData(data: Uint8Array | string): Uint8Array {
    return message('d', typeof data === 'string' ? encoder.encode(data) : data);
  },
  copyDone: (): Uint8Array => message('c', new Uint8Array(0)),
  copyFail(reason: string): Uint8Array {
    return message('f', new Bytes().cstring(reason).build());
  },
  raw: message,
};

export function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export interface BackendMessage {
  readonly type: string;
  readonly body: Uint8Array;
}

/** Cuts server output into messages; a single 'S'/'N' byte (SSL answer) comes out as type 'ssl:S'. */
export class BackendReader {
  private buffer: Uint8Array = new Uint8Array(0);
  readonly messages: BackendMessage[] = [];
  private expectSslAnswer = false;

  expectSsl(): void {
    this.expectSslAnswer = true;
  }

  push(chunk: Uint8Array): void {
    this.buffer = concat(this.buffer, chunk);
    for (;;) {
      if (this.expectSslAnswer && this.buffer.length >= 1) {
        this.messages.push({
          type: `ssl:${String.fromCharCode(this.buffer[0] as number)}`,
          body: new Uint8Array(0),
        });
        this.buffer = this.buffer.slice(1);
        this.expectSslAnswer = false;
        continue;
      }
      if (this.buffer.length < 5) return;
      const view = new DataView(this.buffer.buffer, this.buffer.byteOffset);
      const length = view.getInt32(1);
      if (this.buffer.length < length + 1) return;
      this.messages.push({
        type: String.fromCharCode(this.buffer[0] as number),
        body: this.buffer.slice(5, length + 1),
      });
      this.buffer = this.buffer.slice(length + 1);
    }
  }

  types(): string {
    return this.messages.map((entry) => entry.type).join('');
  }

  take(): BackendMessage[] {
    return this.messages.splice(0, this.messages.length);
  }
}

const decoder = new TextDecoder();

/** ErrorResponse / NoticeResponse fields by code letter. */
export function errorFields(body: Uint8Array): Record<string, string> {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset] as number);
    const end = body.indexOf(0, offset + 1);
    fields[code] = decoder.decode(body.subarray(offset + 1, end));
    offset = end + 1;
  }
  return fields;
}

/** DataRow values (null for SQL NULL). */
export function dataRowValues(body: Uint8Array): (Uint8Array | null)[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const count = view.getInt16(0);
  const values: (Uint8Array | null)[] = [];
  let offset = 2;
  for (let index = 0; index < count; index++) {
    const length = view.getInt32(offset);
    offset += 4;
    if (length === -1) values.push(null);
    else {
      values.push(body.slice(offset, offset + length));
      offset += length;
    }
  }
  return values;
}

export function text(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : decoder.decode(bytes);
}

/** RowDescription → [name, type OID, format] per column. */
export function rowDescriptionColumns(body: Uint8Array): [string, number, number][] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const count = view.getInt16(0);
  const columns: [string, number, number][] = [];
  let offset = 2;
  for (let index = 0; index < count; index++) {
    const end = body.indexOf(0, offset);
    const name = decoder.decode(body.subarray(offset, end));
    offset = end + 1;
    const oid = view.getInt32(offset + 6);
    const format = view.getInt16(offset + 16);
    columns.push([name, oid, format]);
    offset += 18;
  }
  return columns;
}

export function commandTagOf(body: Uint8Array): string {
  return decoder.decode(body.subarray(0, body.length - 1));
}
