/** Light, dark, or the system's choice (`prefers-color-scheme`), remembered in localStorage. */
const THEMES = ["auto", "light", "dark"] as const;
type Theme = (typeof THEMES)[number];
const STORAGE_KEY = "hookstream-theme";

function stored(): Theme {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return THEMES.find((theme) => theme === value) ?? "auto";
  } catch {
    // Storage disabled (private mode, policy): the system theme applies.
    return "auto";
  }
}

function apply(theme: Theme, button: HTMLButtonElement): void {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  button.textContent = `Theme: ${theme}`;
  button.setAttribute("aria-label", `Colour theme: ${theme}. Change`);
}

export function setUpThemeToggle(button: HTMLButtonElement): void {
  let theme = stored();
  apply(theme, button);
  button.addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length] ?? "auto";
    apply(theme, button);
    try {
      localStorage.setItem(STORAGE_KEY, theme);
    } catch {
      // Not remembered, still applied for this page.
    }
  });
}
