/// <reference types="@journeyapps/wa-sqlite" />
/**
 * Types for wa-sqlite's `FacadeVFS`, which the package ships without declarations (its
 * `src/types/index.d.ts` declares `VFS.js`, the constants and the builds, but not this class). Only
 * the members the redo VFS uses or overrides are declared; `j*` methods get JavaScript-friendly
 * arguments, the raw `x*` methods (declared on `Base`) get pointers.
 */
declare module '@journeyapps/wa-sqlite/src/FacadeVFS.js' {
  import { Base } from '@journeyapps/wa-sqlite/src/VFS.js';

  export class FacadeVFS extends Base {
    constructor(name: string, module: object);
    jOpen(filename: string | null, pFile: number, flags: number, pOutFlags: DataView): number;
    jDelete(filename: string, syncDir: number): number;
    jAccess(filename: string, flags: number, pResOut: DataView): number;
    jClose(pFile: number): number;
    jTruncate(pFile: number, size: number): number;
    jSync(pFile: number, flags: number): number;
    jFileSize(pFile: number, pSize: DataView): number;
    jLock(pFile: number, lockType: number): number;
    jUnlock(pFile: number, lockType: number): number;
    jCheckReservedLock(pFile: number, pResOut: DataView): number;
    jSectorSize(pFile: number): number;
    jDeviceCharacteristics(pFile: number): number;
  }
}
