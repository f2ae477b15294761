// The API client: the token lives in sessionStorage (gone when the tab closes).

const KEY = "interventions.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${token.get() || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `the gateway is unreachable (${err.message})`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!resp.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `HTTP ${resp.status}`;
    throw new ApiError(resp.status, detail);
  }
  return { status: resp.status, data };
}

export function eventsUrl() {
  return `/api/sse/events?access_token=${encodeURIComponent(token.get() || "")}`;
}
