/**
 * The browser sign-in for the log page when LOGS_TOKEN is set: a small form that trades the token for the
 * HttpOnly session cookie, and a sign-out. Failed attempts count in the server's one auth limiter.
 */
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { RETRY_AFTER_SECONDS } from "../transport/auth-limiter.ts";
import { type AppEnv, clientAddress } from "../transport/upgrade.ts";
import { type LogsAccess, SESSION_COOKIE } from "./logs-access.ts";

/** Only paths on this server: `next` must never send the browser elsewhere after sign-in. */
export function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/(?!\/)[\w\-./?=&%+]*$/.test(next) ? next : "/logs";
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

function loginPage(next: string, error: string | null): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · hookstream</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { display: grid; place-items: center; min-height: 100vh; margin: 0; background: Canvas; color: CanvasText; }
  form { display: grid; gap: .75rem; padding: 2rem; border: 1px solid GrayText; border-radius: .5rem; min-width: 18rem; }
  input, button { font: inherit; padding: .5rem; }
  .error { color: #b00020; }
  @media (prefers-color-scheme: dark) { .error { color: #ff8a80; } }
</style>
</head>
<body>
<main>
<form method="post" action="/logs/login">
  <h1>hookstream logs</h1>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
  <label for="token">Access token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  <input type="hidden" name="next" value="${escapeHtml(next)}">
  <button type="submit">Sign in</button>
</form>
</main>
</body>
</html>`;
}

export function createLoginRoutes(access: LogsAccess): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.get("/logs/login", (c) => c.html(loginPage(safeNext(c.req.query("next")), null)));

  routes.post("/logs/login", async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === "string" ? form.next : undefined);
    if (!access.required) return c.redirect(next, 303);
    const given = typeof form.token === "string" ? form.token : "";
    const outcome = access.signIn(clientAddress(c), given);
    if (!outcome.ok && outcome.reason === "rate_limited")
      return c.html(loginPage(next, "Too many failed attempts; try again in a minute."), 429, {
        "Retry-After": String(RETRY_AFTER_SECONDS),
      });
    if (!outcome.ok) return c.html(loginPage(next, "That token is not valid."), 401);
    setCookie(c, SESSION_COOKIE, outcome.cookie, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      maxAge: access.sessionTtlSeconds,
      secure: new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https",
    });
    return c.redirect(next, 303);
  });

  // Revoked on the server, not only deleted from this browser: a copy of the cookie opens nothing afterwards.
  routes.post("/logs/logout", (c) => {
    access.signOut(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/logs/login", 303);
  });

  return routes;
}
