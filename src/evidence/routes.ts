// Evidence HTTP routes (being built): list, get, export, keys.
import type { App, Deps } from '../http/types.js';

export function evidenceRoutes(_app: App, _deps: Deps): void {}
