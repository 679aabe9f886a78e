// Who is signed in: the token from sessionStorage and GET /api/v1/whoami, shared through context.
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { api, getToken, setToken, unwrap } from '../api/client';
import type { WhoAmI } from '../api/types';

interface Session {
  me: WhoAmI | undefined;
  checking: boolean;
  login(token: string): Promise<void>;
  logout(): void;
  hasRole(...roles: string[]): boolean;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<WhoAmI>();
  const [checking, setChecking] = useState(Boolean(getToken()));

  const logout = useCallback(() => {
    setToken(null);
    setMe(undefined);
  }, []);

  const login = useCallback(async (token: string) => {
    setToken(token);
    try {
      setMe(await unwrap(api.GET('/api/v1/whoami')));
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
    const onUnauthorized = () => logout();
    window.addEventListener('gantry:unauthorized', onUnauthorized);
    return () => window.removeEventListener('gantry:unauthorized', onUnauthorized);
  }, [login, logout]);

  const hasRole = useCallback((...roles: string[]) => Boolean(me?.roles.some((r) => r === 'admin' || roles.includes(r))), [me]);

  return <SessionContext.Provider value={{ me, checking, login, logout, hasRole }}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
