"""The NTM portal's own plugin: its home page and logo, the reader's language on every dataset and
organization page (both languages stay in the API), place pages and the search of places."""

from __future__ import annotations

import json

import ckan.plugins as p
import ckan.plugins.toolkit as tk
from flask import Blueprint

from ckanext.ntm import indicator_pages, portal_data, serving, submissions, translate
from ckanext.ntm.language import lang as _lang
from ckanext.ntm.language import number, pager, text, with_unit


def _is_page() -> bool:
    """A web page, not an API call nor a DCAT serialisation (`/dataset/<name>.ttl`, `/catalog.ttl`):
    those return the stored fields of both languages."""
    try:
        dcat = (tk.request.endpoint or "").startswith("dcat.") and (tk.request.view_args or {}).get("_format")
        return not tk.request.path.startswith("/api") and not dcat
    except Exception:
        return False


def submit_view():
    """The submission page: choose the department and dataset, drop the file, see the verdict."""
    if not tk.g.user:
        return tk.abort(403, text("Hãy đăng nhập bằng tài khoản của đơn vị", "Log in with your department's account"))
    context = {"user": tk.g.user}
    departments = tk.get_action("organization_list_for_user")(context, {"permission": "create_dataset"})
    datasets = (tk.config.get("ntm.submission_datasets") or "").split()
    result, error = None, None
    if tk.request.method == "POST":
        data = {
            "department": tk.request.form.get("department"),
            "dataset": tk.request.form.get("dataset"),
            "upload": tk.request.files.get("upload"),
        }
        try:
            result = tk.get_action("ntm_submit")(context, data)
        except (tk.NotAuthorized, tk.ValidationError) as err:
            error = str(getattr(err, "error_dict", None) or err)
    return tk.render(
        "ntm/submit.html",
        extra_vars={"departments": departments, "datasets": datasets, "result": result, "error": error},
    )


def recent_datasets(rows: int = 6) -> list[dict]:
    found = tk.get_action("package_search")({}, {"q": "*:*", "sort": "metadata_modified desc", "rows": rows})
    return [translate.for_language(d, _lang()) for d in found["results"]]


def departments() -> list[dict]:
    orgs = tk.get_action("organization_list")({}, {"all_fields": True, "include_extras": True})
    return [translate.organization_for_language(o, _lang()) for o in orgs if o.get("package_count")]


def place_view(unit_key: str):
    found = portal_data.place(unit_key)
    if found is None:
        return tk.abort(404, text("Không tìm thấy địa phương", "Place not found"))
    return tk.render("ntm/place.html", extra_vars=found)


def places_view():
    """The 34 provinces of today's map with a headline figure each, and the places matching a name."""
    q = tk.request.args.get("q", "")
    extra = {"q": q, "places": portal_data.find_places(q, 50), "directory": portal_data.province_directory(q)}
    return tk.render("ntm/places.html", extra_vars=extra)


def grid_view():
    """Provinces × the datasets the program expects: who has sent what, how fresh, who is missing."""
    return tk.render("ntm/grid.html", extra_vars={"grid": portal_data.data_grid()})


class NtmPlugin(p.SingletonPlugin):
    p.implements(p.IConfigurer)
    p.implements(p.ITemplateHelpers)
    p.implements(p.IBlueprint)
    p.implements(p.IPackageController, inherit=True)
    p.implements(p.IOrganizationController, inherit=True)
    p.implements(p.IFacets, inherit=True)
    p.implements(p.IResourceView, inherit=True)
    p.implements(p.IActions)
    p.implements(p.IAuthFunctions)
    p.implements(p.IMiddleware, inherit=True)
    p.implements(p.ITranslation)

    # IConfigurer
    def update_config(self, config):
        tk.add_template_directory(config, "templates")
        tk.add_public_directory(config, "public")

    # ITemplateHelpers
    def get_helpers(self):
        return {
            "ntm_text": text,
            "ntm_figures": portal_data.headline_figures,
            "ntm_map_json": lambda: indicator_pages.json_markup(portal_data.map_data()),
            "ntm_places": portal_data.find_places,
            "ntm_fold": portal_data.fold,
            "ntm_organization": lambda org: translate.organization_for_language(org, _lang()),
            "ntm_dataset": lambda pkg: translate.for_language(pkg, _lang()),
            "ntm_recent_datasets": recent_datasets,
            "ntm_departments": departments,
            "ntm_freshness": portal_data.freshness,
            "ntm_freshness_dataset": portal_data.freshness_dataset,
            "ntm_number": number,
            "ntm_error_detail": serving.error_detail,
            "ntm_relation": lambda relation: text(*portal_data.RELATIONS.get(relation, (relation, relation))),
            "ntm_json": indicator_pages.json_markup,
            "ntm_with_unit": with_unit,
            "ntm_pager": pager,
            "ntm_commune_sentence": indicator_pages.commune_sentence,
            "ntm_commune_chart": indicator_pages.commune_chart,
        }

    # ITranslation: CKAN's texts its Vietnamese catalogue lacks (translate.CKAN_MESSAGES_VI),
    # compiled once per content into a folder outside the source tree
    def i18n_directory(self):
        return _catalogue_folder()

    def i18n_locales(self):
        return ["vi"]

    def i18n_domain(self):
        return "ckanext-ntm"

    # IMiddleware: compression, static caching and security headers (ckanext.ntm.serving)
    def make_middleware(self, app, config):
        return serving.add_serving(app) if tk.asbool(config.get("ntm.serving.enabled", True)) else app

    # IBlueprint
    def get_blueprint(self):
        blueprint = Blueprint("ntm", self.__module__)
        blueprint.add_url_rule("/place/<unit_key>", view_func=place_view)
        blueprint.add_url_rule("/places", view_func=places_view)
        blueprint.add_url_rule("/grid", view_func=grid_view)
        blueprint.add_url_rule("/indicators", view_func=indicator_pages.indicators_view)
        blueprint.add_url_rule("/indicator/<indicator_id>", view_func=indicator_pages.indicator_view)
        blueprint.add_url_rule("/indicator/<indicator_id>.csv", view_func=indicator_pages.indicator_csv)
        blueprint.add_url_rule("/indicator/<indicator_id>.xlsx", view_func=indicator_pages.indicator_xlsx)
        blueprint.add_url_rule("/map", view_func=lambda: tk.render("ntm/map_page.html"), endpoint="map_view")
        blueprint.add_url_rule("/submit", view_func=submit_view, methods=["GET", "POST"])
        return blueprint

    # IActions, IAuthFunctions: a department's member submits a file (ckanext.ntm.submissions)
    def get_actions(self):
        return {"ntm_submit": submissions.submit}

    def get_auth_functions(self):
        return {"ntm_submit": submissions.submit_auth}

    # IResourceView: a GeoJSON resource previewed on the portal's own map (no tiles, no CDN)
    def info(self):
        return {
            "name": "ntm_map",
            "title": "Bản đồ / Map",
            "icon": "globe",
            "iframed": False,
            "always_available": False,
            "default_title": "Bản đồ / Map",
        }

    def can_view(self, data_dict):
        return (data_dict["resource"].get("format") or "").lower() == "geojson"

    def view_template(self, context, data_dict):
        return "ntm/geojson_view.html"

    # IFacets: English tags with the English interface (indexed as `tags_en`, below)
    def dataset_facets(self, facets_dict, package_type):
        if _lang() != "en" or "tags" not in facets_dict:
            return facets_dict
        return {("tags_en" if k == "tags" else k): v for k, v in facets_dict.items()}

    def organization_facets(self, facets_dict, organization_type, package_type):
        return self.dataset_facets(facets_dict, package_type)

    def before_dataset_index(self, pkg_dict):
        pkg_dict["tags_en"] = [t.strip() for t in str(pkg_dict.get("tags_en") or "").split(",") if t.strip()]
        return pkg_dict

    # IPackageController: the dataset page and the search results in the reader's language
    def before_dataset_view(self, pkg_dict):
        if not _is_page():
            return pkg_dict
        shown = translate.for_language(pkg_dict, _lang())
        if _lang() == "en" and (org := (pkg_dict.get("organization") or {}).get("name")):
            full = _organization(org)  # the dataset's copy has no extras, so no English title
            if full:
                shown["organization"] = {**shown["organization"], **translate.organization_for_language(full, "en")}
        return shown

    def after_dataset_search(self, search_results, search_params):
        if not _is_page():
            return search_results
        lang = _lang()
        search_results["results"] = [translate.for_language(d, lang) for d in search_results.get("results", [])]
        if lang == "en":
            for item in search_results.get("search_facets", {}).get("organization", {}).get("items", []):
                item["display_name"] = _organization_title_en(item["name"]) or item["display_name"]
        return search_results

    # IOrganizationController: an organization's page in the reader's language
    def before_view(self, data_dict):
        return translate.organization_for_language(data_dict, _lang()) if _is_page() else data_dict


def _catalogue_folder() -> str:
    import hashlib
    import tempfile
    from pathlib import Path

    digest = hashlib.sha256(json.dumps(translate.CKAN_MESSAGES_VI, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"ckanext-ntm-i18n-{digest}"
    if not (folder / "vi" / "LC_MESSAGES" / "ckanext-ntm.mo").exists():
        translate.write_catalogue(translate.CKAN_MESSAGES_VI, folder, "vi", "ckanext-ntm")
    return str(folder)


def _organization(name: str) -> dict | None:
    try:
        return tk.get_action("organization_show")({}, {"id": name, "include_datasets": False})
    except Exception:
        return None


def _organization_title_en(name: str) -> str | None:
    org = _organization(name)
    return translate.organization_for_language(org, "en").get("title") if org else None
