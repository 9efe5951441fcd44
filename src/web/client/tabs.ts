/**
 * The Logs and Webhooks tabs: arrow keys move between them, the chosen one shows its panel, and the
 * Webhooks tab is remembered in the URL's hash (`#webhooks`) so a reload opens it again.
 */
import { byId } from "./dom.ts";

/** The tab an arrow key moves to from `index` among `count` tabs, wrapping round; null for any other key. */
export function tabAfterKey(index: number, key: string, count: number): number | null {
  const step = key === "ArrowRight" ? 1 : key === "ArrowLeft" ? -1 : 0;
  return step === 0 ? null : (index + step + count) % count;
}

export function setUpTabs(webhooks: { show(): void; hide(): void }): { showLogs(): void } {
  const tabs = [byId("tab-logs", HTMLButtonElement), byId("tab-webhooks", HTMLButtonElement)];
  const select = (tab: HTMLButtonElement, focus: boolean) => {
    for (const other of tabs) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", String(chosen));
      other.tabIndex = chosen ? 0 : -1;
      const panel = document.getElementById(other.getAttribute("aria-controls") ?? "");
      if (panel !== null) panel.hidden = !chosen;
    }
    if (focus) tab.focus();
    const onWebhooks = tab.id === "tab-webhooks";
    if (onWebhooks) webhooks.show();
    else webhooks.hide();
    window.history.replaceState(
      null,
      "",
      `${location.pathname}${location.search}${onWebhooks ? "#webhooks" : ""}`,
    );
  };
  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (event) => {
      const next = tabAfterKey(index, event.key, tabs.length);
      if (next === null) return;
      event.preventDefault();
      select(tabs[next] as HTMLButtonElement, true);
    });
  }
  if (location.hash === "#webhooks") select(tabs[1] as HTMLButtonElement, false);
  return { showLogs: () => select(tabs[0] as HTMLButtonElement, false) };
}
