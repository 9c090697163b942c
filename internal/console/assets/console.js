// hsmsim console: polls the state document and the fault API every second and draws them;
// every control is a call to the fault API. Elements keep stable ids so keyboard focus
// survives a redraw, and a section is redrawn only when its data changed.
"use strict";
(function () {
  const base = location.pathname.replace(/[^/]*$/, "");
  let faultsPath = "";
  let lastState = null;
  const drawn = {};
  let online = null;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // redraw replaces node's children when data changed, keeping focus on the same id.
  function redraw(node, key, data, build) {
    const sig = JSON.stringify(data);
    if (drawn[key] === sig) return;
    drawn[key] = sig;
    const focused = document.activeElement && node.contains(document.activeElement) ? document.activeElement.id : "";
    node.replaceChildren(...build());
    if (focused) {
      const f = document.getElementById(focused);
      if (f) f.focus();
    }
  }

  function setStatus(ok, text) {
    if (online === ok && ok) return; // announce changes only
    online = ok;
    document.getElementById("status").textContent = text;
  }

  function forValue() { return document.getElementById("fault-for").value; }

  async function addFault(body, what) {
    const msg = document.getElementById("fault-message");
    msg.textContent = "";
    try {
      const r = await fetch(faultsPath, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const out = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(out.error || r.status + " " + r.statusText);
      setStatus(true, what + (out.id ? " (" + out.id + ")" : ""));
      online = true;
    } catch (e) {
      msg.textContent = what + " failed: " + e.message;
    }
    poll();
  }

  async function clearFault(id) {
    const msg = document.getElementById("fault-message");
    msg.textContent = "";
    const r = await fetch(id ? faultsPath + "/" + encodeURIComponent(id) : faultsPath, { method: "DELETE" });
    if (!r.ok && r.status !== 404) msg.textContent = "Clearing failed: " + r.status + " " + r.statusText;
    poll();
  }

  function partitioned(faults, az) {
    return (faults.hsm || []).some((f) => (f.do === "isolate-az" || f.do === "az-outage") && f.az === az);
  }

  function drawCluster(st, faults) {
    document.getElementById("cluster-id").textContent = st.clusterId || "(none)";
    const azs = {};
    for (const h of st.hsms) (azs[h.az] = azs[h.az] || []).push(h);
    const names = Object.keys(azs).sort();
    const data = { hsms: st.hsms, parts: names.map((a) => partitioned(faults, a)), faults: !!faultsPath };
    redraw(document.getElementById("azs"), "azs", data, () => names.map((az) => {
      const cut = partitioned(faults, az);
      return el("section", { class: "az", "data-az": az, "data-partitioned": String(cut), "aria-labelledby": "az-" + az },
        el("h3", { id: "az-" + az, text: az + (cut ? " (partitioned)" : "") }),
        el("ul", { "aria-label": "HSMs in " + az }, ...azs[az].map((h) => el("li", {
          class: "hsm", id: "hsm-" + h.label, "data-label": h.label, "data-hsm-id": h.id, "data-state": h.state, "data-leader": String(h.leader),
        },
          el("span", { class: "name", text: h.label + " " }), el("code", { text: h.id }),
          el("span", { class: "badge state-" + h.state, text: h.state }),
          h.leader ? el("span", { class: "badge leader", text: "leader" }) : null,
          el("div", { class: "meta", text: "applied index " + h.appliedIndex + (h.term ? " · term " + h.term : "") }),
          faultsPath ? el("div", { class: "actions" },
            el("button", { type: "button", id: "kill-" + h.label, "aria-label": "Kill HSM " + h.label, text: "Kill",
              onclick: () => addFault({ do: "kill", node: h.label, for: forValue() }, "Killed " + h.label) }),
            el("button", { type: "button", id: "restart-" + h.label, "aria-label": "Restart HSM " + h.label, text: "Restart",
              onclick: () => addFault({ do: "restart", node: h.label }, "Restarted " + h.label) })) : null,
        ))),
        faultsPath ? el("div", { class: "actions" },
          el("button", { type: "button", id: "partition-" + az, text: "Partition " + az,
            onclick: () => addFault({ do: "isolate-az", az: az, for: forValue() }, "Partitioned " + az) })) : null,
      );
    }));
    for (const id of ["link-a", "link-b"]) {
      const sel = document.getElementById(id);
      redraw(sel, id, names, () => names.map((a, i) => el("option", { value: a, text: a, selected: (id === "link-b" ? i === 1 : i === 0) })));
    }
  }

  function describeFault(f) {
    if (f.do) {
      const where = f.az || f.node || (f.between || []).join(" ↔ ") || (f.nodes || []).join(", ");
      let s = f.do + (where ? " " + where : "");
      if (f.latency) s += " latency " + f.latency;
      return s;
    }
    const ops = (f.operations || []).join(", ") || "every operation";
    return (f.action || (f.error ? "error" : "latency")) + " " + (f.error || "") + " on " + ops;
  }

  function drawFaults(faults) {
    const all = [...(faults.api || []), ...(faults.hsm || [])];
    redraw(document.getElementById("faults"), "faults", all, () => {
      if (all.length === 0) return [el("li", { text: "No fault in force." })];
      return all.map((f) => el("li", { "data-fault-id": f.id },
        el("code", { text: f.id }), el("span", { text: describeFault(f) }),
        f.expires ? el("span", { class: "meta", text: "until " + new Date(f.expires).toLocaleTimeString() }) : null,
        el("button", { type: "button", id: "clear-" + f.id, "aria-label": "Clear fault " + f.id, text: "Clear", onclick: () => clearFault(f.id) })));
    });
  }

  function drawStores(st) {
    const body = document.querySelector("#stores tbody");
    redraw(body, "stores", [st.keyStores, st.keyStoresError], () => {
      if (st.keyStoresError) return [el("tr", {}, el("td", { colspan: "4", class: "error", text: st.keyStoresError }))];
      if (st.keyStores.length === 0) return [el("tr", {}, el("td", { colspan: "4", text: "No custom key store." }))];
      return st.keyStores.map((k) => el("tr", { "data-store-id": k.id },
        el("td", { text: k.name }), el("td", {}, el("code", { text: k.id })), el("td", {}, el("code", { text: k.clusterId })),
        el("td", { class: k.connectionState === "CONNECTED" ? "ok" : (k.connectionState === "FAILED" ? "error" : ""),
          text: k.connectionState + (k.connectionErrorCode ? " (" + k.connectionErrorCode + ")" : "") })));
    });
  }

  function drawRequests(st) {
    const body = document.querySelector("#requests tbody");
    redraw(body, "requests", [st.requestLog, st.requests], () => {
      if (!st.requestLog) return [el("tr", {}, el("td", { colspan: "5", text: "No request log in this build." }))];
      if (st.requests.length === 0) return [el("tr", {}, el("td", { colspan: "5", text: "No request yet." }))];
      return st.requests.map((r) => el("tr", { "data-operation": r.operation },
        el("td", { text: new Date(r.time).toLocaleTimeString() }), el("td", { text: r.operation }),
        el("td", {}, el("code", { text: r.caller || "(unsigned)" })),
        el("td", { class: r.errorCode ? "error" : "ok", text: r.errorCode || "OK" }),
        el("td", { text: (r.latencyNs / 1e6).toFixed(1) + " ms" })));
    });
  }

  function drawReports(st) {
    redraw(document.getElementById("reports"), "reports", st.reports, () => {
      if (st.reports.length === 0) return [el("li", { text: "No report in the data directory's reports/ yet (hsmsim scenario run FILE --report $HSMSIM_DATA/reports/NAME.html)." })];
      return st.reports.map((r) => el("li", {},
        el("a", { href: base + "reports/" + encodeURIComponent(r.name), text: r.name }),
        el("span", { class: "meta", text: " " + Math.ceil(r.size / 1024) + " KiB, " + new Date(r.modified).toLocaleString() })));
    });
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const st = await (await fetch(base + "api/state", { cache: "no-store" })).json();
      faultsPath = st.faults || "";
      document.getElementById("faults-section").hidden = !faultsPath;
      document.getElementById("faults-path").textContent = faultsPath;
      let faults = { api: [], hsm: [] };
      if (faultsPath) faults = await (await fetch(faultsPath, { cache: "no-store" })).json();
      lastState = st;
      drawCluster(st, faults);
      drawFaults(faults);
      drawStores(st);
      drawRequests(st);
      drawReports(st);
      setStatus(true, "Live: updated every second.");
    } catch (e) {
      setStatus(false, "Lost contact with hsmsim: " + e.message);
    } finally {
      polling = false;
    }
  }

  document.getElementById("link-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const a = document.getElementById("link-a").value, b = document.getElementById("link-b").value;
    const ms = document.getElementById("link-latency").value;
    addFault({ do: "link", between: [a, b], latency: ms + "ms", for: forValue() }, "Slowed " + a + " ↔ " + b);
  });
  document.getElementById("api-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const op = document.getElementById("api-operation").value, err = document.getElementById("api-error").value;
    addFault({ error: err, operations: [op], for: forValue() }, err + " on " + op);
  });
  document.getElementById("clear-all").addEventListener("click", () => clearFault(""));
  poll();
  setInterval(poll, 1000);
})();
