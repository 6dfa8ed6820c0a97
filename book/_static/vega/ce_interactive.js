// Runs the book's interactive figures (built by ce_lib/interactive.py) in the reader's browser.
//
// Loaded on every page as an ES module (_config.yml, html_js_files). On a page without an
// interactive figure it does nothing; otherwise it imports the vendored Vega runtime from this
// folder (no network), renders each chart as SVG with its sliders, and moves the chart into the
// chapter's static figure, whose image it replaces on screen (print shows the image: custom.css).
// Vega's UMD build, evaluated as a module, defines globalThis.vega; a plain <script> would not
// do: Sphinx's doctools.js owns the global `_`.
//
// For tests and the curious: window.ceInteractive maps each chart's name to its Vega view, and
// <html data-ce-interactive="ready"> (or "failed") says when every chart has been handled.

const charts = [...document.querySelectorAll("div.ce-interactive")];

async function render(el) {
  const spec = JSON.parse(el.querySelector("script.ce-interactive-spec").textContent);
  const controls = document.createElement("div");
  controls.className = "ce-interactive-controls";
  const canvas = document.createElement("div");
  canvas.className = "ce-interactive-view";
  canvas.setAttribute("role", "figure");
  canvas.setAttribute("aria-label", spec.description || "interactive chart");
  el.append(controls, canvas);
  const view = new globalThis.vega.View(globalThis.vega.parse(spec), {
    renderer: "svg",
    container: canvas,
    bind: controls,
    hover: true,
  });
  await view.runAsync();
  // Vega labels each slider (<label> around name and input); name each radio group too.
  for (const group of controls.querySelectorAll(".vega-bind-radio")) {
    const label = group.parentElement.querySelector(".vega-bind-name");
    group.setAttribute("role", "radiogroup");
    if (label) group.setAttribute("aria-label", label.textContent.trim());
  }
  const name = el.id.replace(/^ce-/, "");
  window.ceInteractive[name] = view;
  // Take the static figure's place: the chart goes above its caption, the image hides.
  const figure = document.getElementById(el.dataset.ceStatic);
  if (figure) {
    const caption = figure.querySelector("figcaption");
    figure.insertBefore(el, caption);
    figure.classList.add("ce-live");
  }
  el.classList.add("ce-ready");
}

async function main() {
  window.ceInteractive = {};
  if (!charts.length) return;
  document.documentElement.dataset.ceInteractive = "loading";
  try {
    await import(new URL("./vega.min.js", import.meta.url).href);
    for (const el of charts) await render(el);
    document.documentElement.dataset.ceInteractive = "ready";
  } catch (err) {
    document.documentElement.dataset.ceInteractive = "failed";
    console.error("interactive figure failed; the static figure stays", err);
  }
}

main();
