// The poster page's "Print this poster" button (the page's CSP allows no inline script).
for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
