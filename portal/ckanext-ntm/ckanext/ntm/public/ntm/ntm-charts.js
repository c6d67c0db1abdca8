/* The portal's charts and tabs. Each <script type="application/json" class="ntm-chart-data"> holds a
   chart's data (years, series of values, unit, labels, alt text); Observable Plot (vendored, no
   eval) draws it into the element its data-target names. Tabs (.ntm-tabs-nav links to the sections
   of .ntm-tabs) show one section at a time; without this script every section shows, one under the
   other, and the table is the chart's reading. */
(function () {
  "use strict";

  function formatter(lang, unit) {
    var joiner = lang === "en" && unit === "%" ? "" : " ";
    return function (value) {
      if (value === null || value === undefined) return "–";
      var shown = (Math.round(value * 10) / 10).toFixed(1).replace(/\.0$/, "");
      if (lang !== "en") shown = shown.replace(".", ",");
      return unit ? shown + joiner + unit : shown;
    };
  }

  function rowsOf(spec) {
    var rows = [];
    spec.series.forEach(function (s) {
      s.values.forEach(function (v, i) {
        if (v !== null && v !== undefined) rows.push({ series: s.name, year: spec.years[i], value: v });
      });
    });
    return rows;
  }

  function draw(node) {
    var spec = JSON.parse(node.textContent);
    var target = document.getElementById(node.getAttribute("data-target"));
    if (!target || !window.Plot) return;
    var rows = rowsOf(spec);
    var format = formatter(spec.lang, spec.unit);
    var axis = formatter(spec.lang, "");
    var chart = Plot.plot({
      width: Math.max(280, Math.min(target.clientWidth || 640, 900)),
      height: Number(node.getAttribute("data-height")) || 320,
      marginLeft: 48,
      ariaLabel: spec.alt,
      x: { label: spec.x_label, type: "point", padding: 0.3 },
      y: { label: spec.y_label, grid: true, zero: true, tickFormat: axis },
      color: { legend: true, type: "categorical" },
      marks: [
        Plot.lineY(rows, { x: "year", y: "value", stroke: "series", z: "series" }),
        Plot.dot(rows, {
          x: "year", y: "value", fill: "series", r: 4,
          title: function (d) { return d.series + ", " + d.year + ": " + format(d.value); },
        }),
      ],
    });
    /* One image with one name (the alt text, also the caption): Plot's labels on its marks' groups
       (aria-label on a <g> without a role) would be read as nothing and axe rejects them. */
    chart.querySelectorAll("[aria-label]").forEach(function (el) { el.removeAttribute("aria-label"); });
    chart.setAttribute("role", "img");
    chart.setAttribute("aria-label", spec.alt);
    target.replaceChildren(chart);
    target.setAttribute("data-rendered", "plot");
  }

  function tabs(nav) {
    var container = nav.parentNode.querySelector(".ntm-tabs");
    if (!container) return;
    var links = Array.prototype.slice.call(nav.querySelectorAll("a[href^='#']"));
    function show(id) {
      var known = links.some(function (a) { return a.getAttribute("href") === "#" + id; });
      if (!known) id = links[0].getAttribute("href").slice(1);
      container.querySelectorAll(".ntm-tab").forEach(function (section) {
        section.hidden = section.id !== id;
      });
      links.forEach(function (a) {
        var active = a.getAttribute("href") === "#" + id;
        a.classList.toggle("active", active);
        if (active) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current");
      });
    }
    links.forEach(function (a) {
      a.addEventListener("click", function (event) {
        event.preventDefault();
        var id = a.getAttribute("href").slice(1);
        history.replaceState(null, "", "#" + id);
        show(id);
      });
    });
    show(location.hash.slice(1));
  }

  document.querySelectorAll("script.ntm-chart-data").forEach(draw);
  document.querySelectorAll(".ntm-tabs-nav").forEach(tabs);
})();
