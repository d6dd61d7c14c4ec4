// The app page's loader (docs/apps.md): mounts each notebook-actions widget of the page
// with its own ES module, the same one JupyterLab runs, on an HttpModel whose calls go
// over HTTP to the served pool. The page's config (a JSON script the server wrote) holds
// each widget's saved state and the ES modules and CSS they share.

import { HttpModel, HttpTransport, ViewRefresher } from "./http.js";

/**
 * @typedef {object} AppConfig
 * @property {string} path the served notebook
 * @property {string} invoke_url where calls by action id go (the id is appended)
 * @property {Record<string, { state: Record<string, any>, _esm?: string, _css?: string }>} models
 * @property {Record<string, string>} modules ES modules and CSS by digest
 */

/** @returns {AppConfig} */
function readConfig() {
  const script = document.getElementById("notebook-actions-app");
  return JSON.parse(script?.textContent ?? "{}");
}

/** @type {Map<string, Promise<any>>} */
const loaded = new Map();

/** @param {string} source @returns {Promise<any>} */
function importSource(source) {
  let module = loaded.get(source);
  if (!module) {
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    module = import(/* @vite-ignore */ url).finally(() => URL.revokeObjectURL(url));
    loaded.set(source, module);
  }
  return module;
}

/** @type {Set<string>} */
const styled = new Set();

/** @param {string} digest @param {string} css */
function addStyle(digest, css) {
  if (styled.has(digest)) return;
  styled.add(digest);
  const style = document.createElement("style");
  style.dataset.notebookActions = digest;
  style.textContent = css;
  document.head.append(style);
}

/** @param {HTMLElement} el @param {unknown} error */
function showFailure(el, error) {
  const note = document.createElement("p");
  note.className = "na-app-failure";
  note.setAttribute("role", "alert");
  note.textContent = `This part of the page could not start: ${error instanceof Error ? error.message : error}`;
  el.replaceChildren(note);
}

async function main() {
  const config = readConfig();
  const transport = new HttpTransport(config.invoke_url);
  const views = new ViewRefresher(transport);
  /** @type {Map<string, { model: HttpModel, widget: Promise<any> }>} */
  const mounted = new Map();
  /** Views the server could not render for this load: the loader asks for them. */
  /** @type {HttpModel[]} */
  const stale = [];
  const controller = new AbortController();
  const experimental = {
    invoke: () => Promise.reject(new Error("experimental.invoke is not available on an app page")),
  };

  /** @param {HTMLElement} el */
  const mount = async (el) => {
    const id = el.dataset.modelId ?? "";
    const spec = config.models?.[id];
    if (!spec) throw new Error(`no saved state for widget ${id}`);
    // A view's HTML as the server rendered it for this load (in a pool kernel), if it could.
    const prerender = el.querySelector(":scope > .na-app-prerender");
    el.replaceChildren();
    let entry = mounted.get(id);
    if (!entry) {
      const state = { ...spec.state };
      const rendered = prerender?.querySelector(":scope > template.na-app-view-html");
      if (
        rendered instanceof HTMLTemplateElement &&
        prerender instanceof HTMLElement &&
        prerender.dataset.fresh === "true"
      ) {
        state.value = rendered.innerHTML;
      }
      const model = new HttpModel(state, transport);
      if (spec._css) addStyle(spec._css, config.modules[spec._css] ?? "");
      const widget = (async () => {
        const source = spec._esm ? config.modules[spec._esm] : undefined;
        if (!source) throw new Error(`widget ${id} has no ES module`);
        const module = await importSource(source);
        let definition = module.default;
        if (typeof definition === "function") definition = await definition();
        await definition?.initialize?.({ model, signal: controller.signal, experimental });
        return definition;
      })();
      entry = { model, widget };
      mounted.set(id, entry);
      if (spec.state.render_action) {
        views.add(model);
        if (!(prerender instanceof HTMLElement && prerender.dataset.fresh === "true")) stale.push(model);
      }
    }
    const definition = await entry.widget;
    await definition?.render?.({ model: entry.model, el, signal: controller.signal, experimental });
  };

  const places = /** @type {HTMLElement[]} */ (Array.from(document.querySelectorAll(".na-app-widget[data-model-id]")));
  await Promise.all(places.map((el) => mount(el).catch((error) => showFailure(el, error))));
  // Their saved HTML is the prime's: show the data as it is now.
  for (const model of stale) views.refresh(model);
  document.querySelector(".na-app")?.setAttribute("aria-busy", "false");
}

main().catch((error) => console.error("notebook_actions: the app page could not start", error));
