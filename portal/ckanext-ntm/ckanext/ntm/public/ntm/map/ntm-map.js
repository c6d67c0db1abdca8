/* The portal's map (Leaflet, vendored): provinces of 1 July 2025 coloured by the chosen indicator
   and year, and the communes with a scorecard as points coloured by NTM status. */
(function () {
  "use strict";
  var el = document.getElementById("ntm-map");
  if (!el || !window.L) return;
  var data = JSON.parse(document.getElementById("ntm-map-data").textContent);
  var en = el.dataset.lang === "en";
  var words = {
    recognised: en ? "Recognised at the NTM standard" : "Đã được công nhận đạt chuẩn NTM",
    not_met: en ? "Not meeting the standard" : "Chưa đạt chuẩn",
    unknown: en ? "Not enough data" : "Chưa đủ dữ liệu",
    none: en ? "no data" : "chưa có số liệu",
  };
  var statusColour = { recognised: "#1a9641", not_met: "#d7191c", unknown: "#777777" };
  var ramp = ["#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d"];
  var map = L.map(el, { zoomSnap: 0.5, attributionControl: true }).setView([16.2, 108.5], 5);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("Natural Earth · vietnamadminunits");
  var indicatorSelect = document.getElementById("ntm-map-indicator");
  var yearSelect = document.getElementById("ntm-map-year");
  data.indicators.forEach(function (ind) {
    indicatorSelect.add(new Option(en ? ind.label_en : ind.label_vi, ind.id));
  });
  var provinces = null;

  function current() {
    return data.indicators.filter(function (i) { return i.id === indicatorSelect.value; })[0];
  }
  function fillYears() {
    var ind = current();
    yearSelect.innerHTML = "";
    if (!ind) return;
    Object.keys(ind.values).sort().reverse().forEach(function (y) { yearSelect.add(new Option(y, y)); });
  }
  var noData = "#d9d9d9";
  function step(value, bounds) {
    var span = bounds[1] - bounds[0] || 1;
    return Math.min(ramp.length - 1, Math.floor(((value - bounds[0]) / span) * ramp.length));
  }
  function colour(value, bounds) {
    return value === undefined ? noData : ramp[step(value, bounds)];
  }
  /* The legend: the ramp's classes with their bounds (darker is higher; the indicator's direction
     says whether higher is better), then "no data" in grey with a dashed outline, as on the map. */
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "ntm-map-legend");
    div.style.cssText = "background:#fff;padding:6px 8px;font-size:12px;line-height:18px;border:1px solid #999";
    div.setAttribute("role", "group");
    return div;
  };
  legend.addTo(map);
  function swatch(fill, dashed) {
    return '<span aria-hidden="true" style="display:inline-block;width:14px;height:12px;margin-right:4px;' +
      "vertical-align:middle;background:" + fill + ";border:1px " + (dashed ? "dashed #333" : "solid #555") + '"></span>';
  }
  function drawLegend(ind, bounds, count) {
    var div = legend.getContainer();
    var unit = ind && ind.unit ? " " + ind.unit : "";
    var html = "<strong>" + (ind ? (en ? ind.label_en : ind.label_vi) : "") + "</strong>";
    if (ind && ind.direction) html += "<br><small>" + (ind.direction === "lower" ?
      (en ? "lower is better" : "càng thấp càng tốt") : (en ? "higher is better" : "càng cao càng tốt")) + "</small>";
    if (count && bounds[0] === bounds[1]) {
      html += "<br>" + swatch(ramp[0]) + bounds[0].toFixed(1) + unit;
    } else if (count) {
      var span = (bounds[1] - bounds[0]) / ramp.length;
      ramp.forEach(function (fill, i) {
        var lo = bounds[0] + span * i, hi = i === ramp.length - 1 ? bounds[1] : bounds[0] + span * (i + 1);
        html += "<br>" + swatch(fill) + lo.toFixed(1) + "–" + hi.toFixed(1) + unit;
      });
    }
    html += "<br>" + swatch(noData, true) + words.none;
    div.innerHTML = html;
    div.setAttribute("aria-label", en ? "Legend" : "Chú giải");
  }
  function draw() {
    if (!provinces) return;
    var ind = current();
    var values = ind ? ind.values[yearSelect.value] || {} : {};
    var all = Object.keys(values).map(function (k) { return values[k]; });
    var bounds = all.length ? [Math.min.apply(null, all), Math.max.apply(null, all)] : [0, 1];
    drawLegend(ind, bounds, all.length);
    provinces.eachLayer(function (layer) {
      var p = layer.feature.properties;
      var v = values[p.code];
      layer.setStyle({
        fillColor: colour(v, bounds), fillOpacity: v === undefined ? 0.6 : 0.85,
        color: v === undefined ? "#333" : "#555", weight: v === undefined ? 0.8 : 0.6, dashArray: v === undefined ? "3" : null,
      });
      layer.getElement && layer.getElement() && layer.getElement().setAttribute("data-value", v === undefined ? "none" : String(v));
      layer.bindTooltip(p.name + ": " + (v === undefined ? words.none : v));
    });
  }
  fetch(el.dataset.geojson).then(function (r) { return r.json(); }).then(function (geo) {
    provinces = L.geoJSON(geo).addTo(map);
    map.fitBounds(provinces.getBounds(), { padding: [8, 8] });
    el.setAttribute("data-features", String(geo.features.length));
    draw();
    data.points.forEach(function (pt) {
      L.circleMarker([pt.lat, pt.lon], {
        radius: 5, color: "#222", weight: 1, fillColor: statusColour[pt.status], fillOpacity: 0.95,
      }).addTo(map).bindPopup(
        '<a href="' + el.dataset.placeUrl.replace("KEY", encodeURIComponent(pt.key)) + '">' + pt.name + "</a><br>" +
        words[pt.status] + " (" + pt.year + ")"
      );
    });
    el.setAttribute("data-points", String(data.points.length));
  });
  indicatorSelect.addEventListener("change", function () { fillYears(); draw(); });
  yearSelect.addEventListener("change", draw);
  fillYears();
})();
