// The page's theme: a view recolours itself when JupyterLab (data-jp-theme-*
// on body) or VS Code (a body class) switches theme.

/** What names the page's theme: JupyterLab's data attributes, VS Code's body classes. */
function themeOf(body: HTMLElement): string {
  const vscode = Array.from(body.classList).filter((c) => c.startsWith("vscode-")).join(" ");
  return `${body.dataset.jpThemeName ?? ""}|${body.dataset.jpThemeLight ?? ""}|${vscode}`;
}

/** Call `onSwitch` whenever the page's theme changes; returns the function that stops watching.
 * Body attributes change for other reasons too (the kernel's status, the
 * cursor), so only a change of theme counts. */
export function watchTheme(onSwitch: () => void): () => void {
  if (typeof MutationObserver !== "function" || !document.body) return () => undefined;
  let theme = themeOf(document.body);
  const observer = new MutationObserver(() => {
    const now = themeOf(document.body);
    if (now === theme) return;
    theme = now;
    onSwitch();
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class"] });
  return () => observer.disconnect();
}
