(function () {
  "use strict";
  // Filtering and search only. Every string from the data goes in through textContent or
  // Option(), never as markup.
  function $(id) { return document.getElementById(id); }

  function worstFilter() {
    var task = $("worst-task"), query = $("worst-q"), count = $("worst-count");
    if (!task || !query) { return; }
    var items = document.querySelectorAll("article.item");
    function apply() {
      var t = task.value, q = query.value.trim().toLowerCase(), shown = 0;
      for (var i = 0; i < items.length; i++) {
        var el = items[i];
        var ok = (!t || el.getAttribute("data-task") === t) &&
          (!q || el.textContent.toLowerCase().indexOf(q) !== -1);
        el.hidden = !ok;
        if (ok) { shown++; }
      }
      count.textContent = shown + " of " + items.length + " items shown";
    }
    task.addEventListener("change", apply);
    query.addEventListener("input", apply);
    // A link to an item hidden by the filter clears the filter, so the link always lands.
    window.addEventListener("hashchange", function () {
      var target = $(window.location.hash.slice(1));
      if (target && target.hidden) {
        task.value = "";
        query.value = "";
        apply();
        target.scrollIntoView();
      }
    });
    apply();
  }

  function fmt(v) { return v === null || v === undefined ? "\u2014" : v.toFixed(3); }

  function explorer() {
    var node = $("evalgate-items"), task = $("ex-task"), metric = $("ex-metric"), order = $("ex-order");
    var query = $("ex-q"), body = $("ex-body"), count = $("ex-count");
    if (!node || !task || !body) { return; }
    var data = JSON.parse(node.textContent).tasks, LIMIT = 200;
    Object.keys(data).forEach(function (name) { task.appendChild(new Option(name, name)); });

    function fillMetrics() {
      var t = data[task.value];
      while (metric.firstChild) { metric.removeChild(metric.firstChild); }
      Object.keys(t.metrics).forEach(function (m) { metric.appendChild(new Option(m, m, false, m === t.primary)); });
    }

    function render() {
      var t = data[task.value];
      if (!t) { return; }
      var m = t.metrics[metric.value], sign = m.hib ? 1 : -1, q = query.value.trim().toLowerCase();
      var rows = [];
      for (var i = 0; i < t.ids.length; i++) {
        var b = m.b[i], c = m.c[i];
        var imp = (b === null || c === null) ? null : sign * (c - b);
        if (q && String(t.ids[i]).toLowerCase().indexOf(q) === -1) { continue; }
        if (order.value === "changed" && !imp) { continue; }
        rows.push({ id: t.ids[i], b: b, c: c, imp: imp, pos: i });
      }
      var key = function (r) { return r.imp === null ? Infinity : r.imp; };
      if (order.value === "worst" || order.value === "changed") { rows.sort(function (x, y) { return key(x) - key(y) || x.pos - y.pos; }); }
      if (order.value === "best") { rows.sort(function (x, y) { return (y.imp === null ? -Infinity : y.imp) - (x.imp === null ? -Infinity : x.imp) || x.pos - y.pos; }); }
      while (body.firstChild) { body.removeChild(body.firstChild); }
      rows.slice(0, LIMIT).forEach(function (r) {
        var tr = document.createElement("tr"), idCell = document.createElement("td");
        var anchor = t.anchors[r.id];
        if (anchor) {
          var a = document.createElement("a");
          a.href = "#" + anchor;
          a.textContent = r.id;
          a.title = "shown side by side below";
          idCell.appendChild(a);
        } else {
          idCell.textContent = r.id;
        }
        idCell.className = "mono";
        tr.appendChild(idCell);
        [fmt(r.b), fmt(r.c), r.imp === null ? "unscored" : (r.c - r.b >= 0 ? "+" : "") + (r.c - r.b).toFixed(3)].forEach(function (text, k) {
          var td = document.createElement("td");
          td.className = "n" + (k === 2 && r.imp ? (r.imp < 0 ? " worse" : " better") : "");
          td.textContent = text;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      count.textContent = "showing " + Math.min(rows.length, LIMIT) + " of " + rows.length + " matching items (" + t.ids.length + " in " + task.value + ")";
    }

    task.addEventListener("change", function () { fillMetrics(); render(); });
    metric.addEventListener("change", render);
    order.addEventListener("change", render);
    query.addEventListener("input", render);
    fillMetrics();
    render();
  }

  worstFilter();
  explorer();
}());
