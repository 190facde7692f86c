#!/usr/bin/env node
// The `northlight` command: runs the TypeScript CLI through tsx (no build step in this repository).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
