/* The portal's map (Leaflet, vendored): provinces of 1 July 2025 coloured by the chosen indicator
   and year, and every commune with a value of it that year as a point in the same colours. The
   colour classes come with the data (portal_data.classes over the provinces' and communes' values,
   the ramp the indicator pages draw with): this file has no colours of its own for values. */
(function () {
  "use strict";
  var el = document.getElementById("ntm-map");
  if (!el || !window.L) return;
  var data = JSON.parse(document.getElementById("ntm-map-data").textContent);
  var en = el.dataset.lang === "en";
  var words = {
    none: en ? "no data" : "chưa có số liệu",
    communes: en ? "communes with data (points, same colours)" : "xã có số liệu (điểm, cùng thang màu)",
    communesNone: en ? "communes without data: no point" : "xã chưa có số liệu: không có điểm",
    higher: en ? "higher is better" : "càng cao càng tốt",
    lower: en ? "lower is better" : "càng thấp càng tốt",
  };
  var map = L.map(el, { zoomSnap: 0.5, attributionControl: true }).setView([16.2, 108.5], 5);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("Natural Earth · vietnamadminunits");
  var indicatorSelect = document.getElementById("ntm-map-indicator");
  var yearSelect = document.getElementById("ntm-map-year");
  data.indicators.forEach(function (ind) {
    indicatorSelect.add(new Option(en ? ind.label_en : ind.label_vi, ind.id));
  });
  var provinces = null;
  var points = L.layerGroup().addTo(map);

  function current() {
    return data.indicators.filter(function (i) { return i.id === indicatorSelect.value; })[0];
  }
  function fillYears() {
    var ind = current();
    yearSelect.innerHTML = "";
    if (!ind) return;
    Object.keys(ind.classes).sort().reverse().forEach(function (y) { yearSelect.add(new Option(y, y)); });
  }
  var noData = "#d9d9d9";
  /* The first class whose upper bound reaches the value (indicator_pages._colour's reading). */
  function colour(value, classes) {
    if (value === undefined || !classes.length) return noData;
    for (var i = 0; i < classes.length; i++) if (value <= classes[i][1]) return classes[i][2];
    return classes[classes.length - 1][2];
  }
  function shown(value) {
    var text = (Math.round(value * 10) / 10).toFixed(1).replace(/\.0$/, "");
    return en ? text : text.replace(".", ",");
  }
  /* "46,3 %" in Vietnamese, "46.3%" in English (indicator_pages.with_unit) */
  function unitOf(ind) {
    if (!ind || !ind.unit) return "";
    return en && ind.unit === "%" ? ind.unit : " " + ind.unit;
  }
  /* The legend: the classes with their bounds (darker is higher; the indicator's direction says
     whether higher is better), "no data" in grey with a dashed outline as on the map, and how many
     communes have a point and how many have none. */
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "ntm-map-legend");
    div.style.cssText = "background:#fff;padding:6px 8px;font-size:12px;line-height:18px;border:1px solid #999";
    div.setAttribute("role", "group");
    return div;
  };
  legend.addTo(map);
  function swatch(fill, dashed, round) {
    return '<span aria-hidden="true" style="display:inline-block;width:14px;height:12px;margin-right:4px;' +
      (round ? "border-radius:50%;" : "") + "vertical-align:middle;background:" + fill + ";border:1px " +
      (dashed ? "dashed #333" : "solid #555") + '"></span>';
  }
  function drawLegend(ind, classes, communes) {
    var div = legend.getContainer();
    var unit = unitOf(ind);
    var html = "<strong>" + (ind ? (en ? ind.label_en : ind.label_vi) : "") + "</strong>";
    if (ind && ind.direction) html += "<br><small>" + (ind.direction === "lower" ? words.lower : words.higher) + "</small>";
    classes.forEach(function (c) {
      html += "<br>" + swatch(c[2]) + (c[0] === c[1] ? shown(c[0]) : shown(c[0]) + "–" + shown(c[1])) + unit;
    });
    html += "<br>" + swatch(noData, true) + words.none;
    html += '<br><span class="ntm-legend-communes">' + swatch("#fff", false, true) +
      words.communes + ": " + communes + "</span>";
    html += '<br><span class="ntm-legend-communes-none">' + words.communesNone + " (" +
      Math.max(0, data.commune_total - communes) + ")</span>";
    div.innerHTML = html;
    div.setAttribute("aria-label", en ? "Legend" : "Chú giải");
  }
  function drawPoints(ind, year, classes) {
    points.clearLayers();
    var values = (ind && ind.communes[year]) || {};
    var keys = Object.keys(values);
    keys.forEach(function (key) {
      var place = data.communes[key];
      if (!place) return;
      L.circleMarker([place[1], place[2]], {
        radius: 5, color: "#222", weight: 1, fillColor: colour(values[key], classes), fillOpacity: 0.95,
      }).addTo(points).bindPopup(
        '<a href="' + el.dataset.placeUrl.replace("KEY", encodeURIComponent(key)) + '">' + place[0] + "</a><br>" +
        shown(values[key]) + unitOf(ind) + " (" + year + ")"
      );
    });
    el.setAttribute("data-points", String(points.getLayers().length));
    return points.getLayers().length;
  }
  function draw() {
    if (!provinces) return;
    var ind = current();
    var year = yearSelect.value;
    var values = ind ? ind.values[year] || {} : {};
    var classes = ind ? ind.classes[year] || [] : [];
    drawLegend(ind, classes, drawPoints(ind, year, classes));
    provinces.eachLayer(function (layer) {
      var p = layer.feature.properties;
      var v = values[p.code];
      layer.setStyle({
        fillColor: colour(v, classes), fillOpacity: v === undefined ? 0.6 : 0.85,
        color: v === undefined ? "#333" : "#555", weight: v === undefined ? 0.8 : 0.6, dashArray: v === undefined ? "3" : null,
      });
      layer.getElement && layer.getElement() && layer.getElement().setAttribute("data-value", v === undefined ? "none" : String(v));
      layer.bindTooltip(p.name + ": " + (v === undefined ? words.none : shown(v) + unitOf(ind)));
    });
    el.setAttribute("data-year", year || "");
    el.setAttribute("data-indicator", ind ? ind.id : "");
  }
  fetch(el.dataset.geojson).then(function (r) { return r.json(); }).then(function (geo) {
    provinces = L.geoJSON(geo).addTo(map);
    map.fitBounds(provinces.getBounds(), { padding: [8, 8] });
    el.setAttribute("data-features", String(geo.features.length));
    draw();
  });
  indicatorSelect.addEventListener("change", function () { fillYears(); draw(); });
  yearSelect.addEventListener("change", draw);
  fillYears();
})();
