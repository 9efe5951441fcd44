/**
 * JSON requests to the page's APIs (`/logs/api/...`): the page's token as a Bearer header when it was given
 * one, a 401 sends the browser to the sign-in form, and every other failure comes back as a value.
 */
export type ApiResult<T> = { ok: true; data: T } | { ok: false; status: number; message: string };

export interface Api {
  get<T>(path: string, accept: (value: unknown) => value is T): Promise<ApiResult<T>>;
  post<T>(path: string, accept: (value: unknown) => value is T): Promise<ApiResult<T>>;
}

/** The sign-in form, coming back to this page (without the token) afterwards. */
export function loginUrl(next: string): string {
  return `/logs/login?next=${encodeURIComponent(next)}`;
}

function errorText(status: number, body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (
      typeof parsed === "object" &&
      parsed !== null &&
      "error" in parsed &&
      typeof parsed.error === "string"
    )
      return parsed.error;
  } catch {
    // Not the JSON error shape.
  }
  return `HTTP ${status}`;
}

export function createApi(token: string | null, onUnauthorized: () => void): Api {
  const request = async <T>(
    method: "GET" | "POST",
    path: string,
    accept: (value: unknown) => value is T,
  ): Promise<ApiResult<T>> => {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        credentials: "same-origin",
        headers: token === null ? {} : { Authorization: `Bearer ${token}` },
      });
    } catch (error) {
      return { ok: false, status: 0, message: `server unreachable (${String(error)})` };
    }
    const body = await response.text();
    if (response.status === 401) {
      onUnauthorized();
      return { ok: false, status: 401, message: "sign-in required" };
    }
    if (!response.ok)
      return { ok: false, status: response.status, message: errorText(response.status, body) };
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      return { ok: false, status: response.status, message: "the answer is not JSON" };
    }
    if (!accept(value)) return { ok: false, status: response.status, message: "unexpected answer shape" };
    return { ok: true, data: value };
  };
  return {
    get: (path, accept) => request("GET", path, accept),
    post: (path, accept) => request("POST", path, accept),
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
