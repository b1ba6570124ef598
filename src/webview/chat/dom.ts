// Small DOM helpers of the chat webview: codicons and icon buttons, built with DOM APIs only.

export function icon(name: string): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = `codicon codicon-${name}`;
  span.setAttribute("aria-hidden", "true");
  return span;
}

export function iconButton(name: string, label: string, onClick: () => void, extra = ""): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `icon-button ${extra}`.trim();
  button.title = label;
  button.setAttribute("aria-label", label);
  button.append(icon(name));
  button.addEventListener("click", onClick);
  return button;
}
