// Who is signed in: the token from sessionStorage and GET /api/v1/whoami, shared through context.
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { api, getToken, setToken, unwrap } from '../api/client';
import type { WhoAmI } from '../api/types';

interface Session {
  me: WhoAmI | undefined;
  checking: boolean;
  /** Why the last session ended without the user signing out (the server's 401 detail), shown on sign-in. */
  endedBecause: string | undefined;
  login(token: string): Promise<void>;
  logout(): void;
  hasRole(...roles: string[]): boolean;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<WhoAmI>();
  const [checking, setChecking] = useState(Boolean(getToken()));
  const [endedBecause, setEndedBecause] = useState<string>();

  const logout = useCallback(() => {
    setToken(null);
    setMe(undefined);
    setEndedBecause(undefined);
  }, []);

  const login = useCallback(async (token: string) => {
    setToken(token);
    try {
      setMe(await unwrap(api.GET('/api/v1/whoami')));
      setEndedBecause(undefined);
    } catch (err) {
      setToken(null);
      throw err;
    }
  }, []);

  useEffect(() => {
    const token = getToken();
    if (token) {
      login(token)
        .catch(() => undefined)
        .finally(() => setChecking(false));
    }
    const onUnauthorized = (e: Event) => {
      const detail = e instanceof CustomEvent && typeof e.detail === 'string' ? e.detail : undefined;
      setToken(null);
      setMe(undefined);
      setEndedBecause(detail ?? 'The server no longer accepts this token (401).');
    };
    window.addEventListener('gantry:unauthorized', onUnauthorized);
    return () => window.removeEventListener('gantry:unauthorized', onUnauthorized);
  }, [login]);

  const hasRole = useCallback((...roles: string[]) => Boolean(me?.roles.some((r) => r === 'admin' || roles.includes(r))), [me]);

  return <SessionContext.Provider value={{ me, checking, endedBecause, login, logout, hasRole }}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
