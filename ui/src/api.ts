// The query API over Connect, on the origin that served the page (`vigil serve`'s web port),
// with the signed-in user's credentials (VIGIL_AUTH=on): every call carries the session's
// access token and the project chosen in the header; a token about to expire is renewed
// with RefreshSession first; a call refused as unauthenticated signs the user out.
// Signing out ends the session on the server too (AdminService.SignOut): a copy of the
// tokens left anywhere is refused from then on.

import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService } from "./gen/vigil/admin/v1/admin_pb";
import { AlertingService } from "./gen/vigil/alerting/v1/alerting_pb";
import { QueryService } from "./gen/vigil/query/v1/query_pb";

const SESSION = "vigil-session";
const PROJECT = "vigil-project";
const RENEW_BEFORE_MS = 60_000;

interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAtMs: number;
}

export function signedIn(): boolean {
  return loadSession() !== null;
}

export function saveSession(accessToken: string, refreshToken: string, expiresInS: number): void {
  const session: Session = { accessToken, refreshToken, expiresAtMs: Date.now() + expiresInS * 1000 };
  localStorage.setItem(SESSION, JSON.stringify(session));
}

// Forget the session in this browser (the server already refused it).
export function signOut(): void {
  localStorage.removeItem(SESSION);
}

// Sign out: the server ends the session, then this browser forgets it (even if the server
// could not be reached: the user asked to be signed out here).
export async function endSession(): Promise<void> {
  const session = loadSession();
  if (session) {
    try {
      await sessions.signOut({}, { headers: { authorization: `Bearer ${session.accessToken}` } });
    } catch {
      // already ended or expired: nothing left to end
    }
  }
  signOut();
}

export function project(): string {
  return localStorage.getItem(PROJECT) ?? "";
}

export function setProject(slug: string): void {
  if (slug) localStorage.setItem(PROJECT, slug);
  else localStorage.removeItem(PROJECT);
}

function loadSession(): Session | null {
  try {
    const session = JSON.parse(localStorage.getItem(SESSION) ?? "null") as Session | null;
    return session?.accessToken ? session : null;
  } catch {
    return null;
  }
}

// Called when the server says the credentials are gone (the app shows the login page).
let onSignedOut: () => void = () => {};
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

let renewing: Promise<void> | null = null;

async function renewed(session: Session): Promise<Session | null> {
  if (session.expiresAtMs - Date.now() > RENEW_BEFORE_MS || !session.refreshToken) return session;
  renewing ??= bare
    .refreshSession({ refreshToken: session.refreshToken })
    .then((fresh) => saveSession(fresh.accessToken, fresh.refreshToken, fresh.expiresInS))
    .catch(() => signOut())
    .finally(() => (renewing = null));
  await renewing;
  return loadSession();
}

const credentials: Interceptor = (next) => async (request) => {
  let session = loadSession();
  if (session) session = await renewed(session);
  if (session) request.header.set("authorization", `Bearer ${session.accessToken}`);
  if (project()) request.header.set("x-vigil-project", project());
  try {
    return await next(request);
  } catch (error) {
    if (ConnectError.from(error).code === Code.Unauthenticated && session) {
      signOut();
      onSignedOut();
    }
    throw error;
  }
};

const origin = window.location.origin;
// Login and RefreshSession need no credential: a client without the interceptor.
const bare = createClient(QueryService, createConnectTransport({ baseUrl: origin }));

export const query = createClient(QueryService, createConnectTransport({ baseUrl: origin, interceptors: [credentials], useBinaryFormat: true }));
export const alerting = createClient(AlertingService, createConnectTransport({ baseUrl: origin, interceptors: [credentials], useBinaryFormat: true }));
// SignOut with the session's own token as it is (not renewed first, never signing out twice).
const sessions = createClient(AdminService, createConnectTransport({ baseUrl: origin }));
export const login = (username: string, password: string) => bare.login({ username, password });

export function errorCode(error: unknown): Code {
  return ConnectError.from(error).code;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
