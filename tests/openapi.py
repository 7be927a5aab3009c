#!/usr/bin/python3
"""openapi.py -- the OpenAPI 3.1 description of the HTTP API
(kore-api/openapi.json), checked with Debian's python3-jsonschema (4.10,
which has draft 2020-12, the dialect of OpenAPI 3.1's schemas).

  openapi.py lint DOC [VERSION]
      the document is well formed: fields in their places, every $ref
      resolves, every schema is a valid 2020-12 schema, every example
      matches its schema, path parameters match the templates, operation
      ids are unique, every component is used; VERSION is info.version.
  openapi.py check DOC METHOD PATH STATUS HEADERS BODY [COVERAGE]
      a real answer (its status line's code, the file of its headers and
      the file of its body) is what the document says the route answers;
      with COVERAGE, "METHOD TEMPLATE STATUS" is appended to that file.
  openapi.py check-dir DOC DIR [COVERAGE]
      the same for every answer saved in DIR: N.meta ("METHOD PATH
      STATUS"), N.h (its headers) and N.b (its body).
  openapi.py coverage DOC COVERAGE
      every answer the document names was checked at least once.

Exit 0 when all is well, 1 with one line per problem on stdout.
"""
import glob
import json
import os
import re
import sys

from jsonschema import Draft202012Validator, RefResolver
from jsonschema.exceptions import SchemaError

METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")

# The fixed fields of the objects the document uses (OpenAPI 3.1.0, §4.8);
# "x-" extensions are allowed everywhere.
FIELDS = {
    "openapi": {"openapi", "info", "jsonSchemaDialect", "servers", "paths",
                "webhooks", "components", "security", "tags",
                "externalDocs"},
    "info": {"title", "summary", "description", "termsOfService",
             "contact", "license", "version"},
    "path": {"$ref", "summary", "description", "servers",
             "parameters"} | set(METHODS),
    "operation": {"tags", "summary", "description", "externalDocs",
                  "operationId", "parameters", "requestBody", "responses",
                  "callbacks", "deprecated", "security", "servers"},
    "parameter": {"name", "in", "description", "required", "deprecated",
                  "allowEmptyValue", "style", "explode", "allowReserved",
                  "schema", "example", "examples", "content"},
    "requestBody": {"description", "content", "required"},
    "response": {"description", "headers", "content", "links"},
    "mediaType": {"schema", "example", "examples", "encoding"},
    "header": {"description", "required", "deprecated", "style",
               "explode", "schema", "example", "examples", "content"},
    "components": {"schemas", "responses", "parameters", "examples",
                   "requestBodies", "headers", "securitySchemes", "links",
                   "callbacks", "pathItems"},
    "securityScheme": {"type", "description", "name", "in", "scheme",
                       "bearerFormat", "flows", "openIdConnectUrl"},
}

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pointer(doc, ref):
    """The object a local $ref names, or None."""
    if not ref.startswith("#/"):
        return None
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def deref(doc, obj):
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj and seen < 10:
        obj = pointer(doc, obj["$ref"])
        seen += 1
    return obj


def validator(doc, schema):
    return Draft202012Validator(schema,
                                resolver=RefResolver.from_schema(doc))


def fields(where, obj, kind):
    if not isinstance(obj, dict):
        problem(where, f"a {kind} object must be a JSON object")
        return
    for k in obj:
        if k not in FIELDS[kind] and not k.startswith("x-"):
            problem(where, f"unknown field {k!r} in a {kind} object")


def walk(node, where=""):
    """Every (where, dict) in the document."""
    if isinstance(node, dict):
        yield where, node
        for k, v in node.items():
            yield from walk(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{where}/{i}")


def check_schema(doc, where, schema):
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        problem(where, f"not a JSON Schema 2020-12 schema: {e.message}")
        return
    v = validator(doc, schema)
    for i, ex in enumerate(schema.get("examples", []) if
                           isinstance(schema, dict) else []):
        for e in v.iter_errors(ex):
            problem(f"{where}/examples/{i}", f"example does not match: "
                    f"{e.message}")


def check_media(doc, where, media):
    fields(where, media, "mediaType")
    schema = media.get("schema")
    if schema is None:
        problem(where, "no schema")
        return
    check_schema(doc, f"{where}/schema", schema)
    v = validator(doc, schema)
    for name, ex in media.get("examples", {}).items():
        ex = deref(doc, ex)
        for e in v.iter_errors(ex.get("value")):
            problem(f"{where}/examples/{name}",
                    f"example does not match: {e.message}")


def lint(doc, version):
    fields("#", doc, "openapi")
    if not re.fullmatch(r"3\.1\.\d+", str(doc.get("openapi", ""))):
        problem("#/openapi", "not 3.1.x")
    info = doc.get("info", {})
    fields("#/info", info, "info")
    for k in ("title", "version"):
        if not info.get(k):
            problem("#/info", f"no {k}")
    if version and info.get("version") != version:
        problem("#/info/version",
                f"{info.get('version')!r}, but the package is {version!r}")
    comps = doc.get("components", {})
    fields("#/components", comps, "components")
    schemes = comps.get("securitySchemes", {})
    for name, s in schemes.items():
        fields(f"#/components/securitySchemes/{name}", s, "securityScheme")
    tags = {t.get("name") for t in doc.get("tags", [])}

    # Every $ref resolves.
    for where, node in walk(doc, "#"):
        if "$ref" in node and isinstance(node["$ref"], str):
            if pointer(doc, node["$ref"]) is None:
                problem(where, f"$ref {node['$ref']} resolves to nothing")
    if problems:
        return

    def security(where, reqs):
        for req in reqs:
            for name in req:
                if name not in schemes:
                    problem(where, f"security scheme {name!r} undefined")

    security("#/security", doc.get("security", []))
    for name, s in comps.get("schemas", {}).items():
        check_schema(doc, f"#/components/schemas/{name}", s)

    ids = {}
    paths = doc.get("paths", {})
    if not paths:
        problem("#/paths", "no paths")
    for path, item in paths.items():
        pw = "#/paths/" + path.replace("~", "~0").replace("/", "~1")
        if not path.startswith("/"):
            problem(pw, "a path must start with /")
        fields(pw, item, "path")
        templ = set(re.findall(r"\{([^}/]+)\}", path))
        common = [deref(doc, p) for p in item.get("parameters", [])]
        ops = [m for m in METHODS if m in item]
        if not ops:
            problem(pw, "no operation")
        for m in ops:
            op = item[m]
            ow = f"{pw}/{m}"
            fields(ow, op, "operation")
            oid = op.get("operationId")
            if not oid:
                problem(ow, "no operationId")
            elif oid in ids:
                problem(ow, f"operationId {oid} is also {ids[oid]}'s")
            else:
                ids[oid] = ow
            if not op.get("summary"):
                problem(ow, "no summary")
            for t in op.get("tags", []):
                if t not in tags:
                    problem(ow, f"tag {t!r} is not declared in #/tags")
            security(f"{ow}/security", op.get("security", []))
            params = common + [deref(doc, p) for p in
                               op.get("parameters", [])]
            declared = set()
            for i, p in enumerate(params):
                fields(f"{ow}/parameters/{i}", p, "parameter")
                if p.get("in") not in ("path", "query", "header", "cookie"):
                    problem(ow, f"parameter {p.get('name')}: bad 'in'")
                if "schema" in p:
                    check_schema(doc, f"{ow}/parameters/{p.get('name')}",
                                 p["schema"])
                    if "example" in p:
                        for e in validator(doc, p["schema"]).iter_errors(
                                p["example"]):
                            problem(ow, f"parameter {p.get('name')}: "
                                    f"example: {e.message}")
                if p.get("in") == "path":
                    declared.add(p.get("name"))
                    if p.get("required") is not True:
                        problem(ow, f"path parameter {p.get('name')} "
                                "must be required")
            if declared != templ:
                problem(ow, f"path parameters {sorted(declared)} but the "
                        f"template has {sorted(templ)}")
            body = op.get("requestBody")
            if body is not None:
                body = deref(doc, body)
                fields(f"{ow}/requestBody", body, "requestBody")
                for ct, media in body.get("content", {}).items():
                    check_media(doc, f"{ow}/requestBody/content/{ct}",
                                media)
            resps = op.get("responses", {})
            if not resps:
                problem(ow, "no responses")
            for code, r in resps.items():
                rw = f"{ow}/responses/{code}"
                if not re.fullmatch(r"[1-5](\d\d|XX)|default", code):
                    problem(rw, "not a status code")
                r = deref(doc, r)
                fields(rw, r, "response")
                if not r.get("description"):
                    problem(rw, "no description")
                for h, hd in r.get("headers", {}).items():
                    fields(f"{rw}/headers/{h}", deref(doc, hd), "header")
                for ct, media in r.get("content", {}).items():
                    check_media(doc, f"{rw}/content/{ct}", media)

    # Every component is used somewhere else.
    text = json.dumps(doc)
    for kind in ("schemas", "responses", "parameters", "headers",
                 "requestBodies", "examples"):
        for name in comps.get(kind, {}):
            ref = json.dumps(f"#/components/{kind}/{name}")
            if ref not in text:
                problem(f"#/components/{kind}/{name}", "never used")
    for name in schemes:
        if f'"{name}"' not in json.dumps(doc.get("security", [])) + \
                json.dumps(paths):
            problem(f"#/components/securitySchemes/{name}", "never used")


def template_of(doc, path):
    """The document's path template that PATH is an instance of."""
    path = path.split("?", 1)[0]
    for templ in doc.get("paths", {}):
        rx = "".join(r"[^/]+" if part.startswith("{") else re.escape(part)
                     for part in re.split(r"(\{[^}/]+\})", templ))
        if re.fullmatch(rx, path):
            return templ
    return None


def parse_headers(text):
    h = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("HTTP/"):
            k, v = line.split(":", 1)
            h[k.strip().lower()] = v.strip()
    return h


def check_body(doc, where, schema, ctype, body):
    if ctype.split(";")[0].strip() == "application/json":
        try:
            value = json.loads(body)
        except ValueError as e:
            problem(where, f"the body is not JSON: {e}")
            return
    else:
        value = body
    for e in validator(doc, schema).iter_errors(value):
        path = "/".join(str(p) for p in e.absolute_path)
        problem(where, f"the body does not match at /{path}: {e.message}")


def error_body(doc, where, body):
    check_body(doc, where, {"$ref": "#/components/schemas/Error"},
               "application/json", body)


def check(doc, method, path, status, headers, body, coverage):
    method = method.lower()
    h = parse_headers(headers)
    ctype = h.get("content-type", "")
    where = f"{method.upper()} {path} {status}"
    templ = template_of(doc, path)
    if templ is None:
        # A path that is no route: 404, or 401 before it when a token is
        # needed (the token is checked first).
        if status not in ("404", "401"):
            problem(where, "a path the document does not describe "
                    "answered other than 404")
        error_body(doc, where, body)
        return
    item = doc["paths"][templ]
    ops = [m for m in METHODS if m in item]
    allowed = set(ops) | ({"head"} if "get" in ops else set())
    if method not in allowed:
        if status == "405":
            got = {m.strip().lower() for m in h.get("allow", "").split(",")}
            if got != allowed:
                problem(where, f"Allow says {sorted(got)}, the document "
                        f"{sorted(allowed)}")
            error_body(doc, where, body)
        elif status != "401":
            problem(where, "a method the document does not list answered "
                    "other than 405")
        return
    op = item["get" if method == "head" else method]
    resps = op.get("responses", {})
    r = resps.get(status) or resps.get(status[0] + "XX") or \
        resps.get("default")
    if r is None:
        problem(where, f"status {status} is not documented for "
                f"{method.upper()} {templ} ({', '.join(resps)})")
        return
    r = deref(doc, r)
    if coverage:
        with open(coverage, "a", encoding="utf-8") as f:
            f.write(f"{method if method != 'head' else 'get'} {templ} "
                    f"{status}\n")
    for name, hd in r.get("headers", {}).items():
        hd = deref(doc, hd)
        val = h.get(name.lower())
        if val is None:
            if hd.get("required"):
                problem(where, f"no {name} header")
            continue
        schema = hd.get("schema", {})
        v = val
        if schema.get("type") == "integer":
            try:
                v = int(val)
            except ValueError:
                problem(where, f"{name}: {val!r} is not an integer")
                continue
        for e in validator(doc, schema).iter_errors(v):
            problem(where, f"{name}: {e.message}")
    content = r.get("content", {})
    if not content:
        return
    norm = lambda s: s.replace(" ", "").lower()
    media = None
    for ct, m in content.items():
        if norm(ct) == norm(ctype):
            media = m
    if media is None:
        problem(where, f"content type {ctype!r} is not one of "
                f"{list(content)}")
        return
    if method == "head":
        return
    check_body(doc, where, media.get("schema", {}), ctype, body)


def coverage_of(doc, path):
    seen = set()
    with open(path, encoding="utf-8") as f:
        seen = {line.strip() for line in f}
    for templ, item in doc.get("paths", {}).items():
        for m in METHODS:
            for code in item.get(m, {}).get("responses", {}):
                if f"{m} {templ} {code}" not in seen:
                    problem(f"{m.upper()} {templ}",
                            f"answer {code} was never seen")


def main(argv):
    if len(argv) >= 3 and argv[1] == "lint":
        lint(load(argv[2]), argv[3] if len(argv) > 3 else None)
    elif len(argv) in (8, 9) and argv[1] == "check":
        with open(argv[6], encoding="utf-8", errors="replace") as f:
            headers = f.read()
        with open(argv[7], encoding="utf-8", errors="replace") as f:
            body = f.read()
        check(load(argv[2]), argv[3], argv[4], argv[5], headers, body,
              argv[8] if len(argv) > 8 else None)
    elif len(argv) in (4, 5) and argv[1] == "check-dir":
        doc = load(argv[2])
        d = argv[3]
        for meta in sorted(glob.glob(os.path.join(d, "*.meta")),
                           key=lambda p: int(os.path.basename(p)[:-5])):
            base = meta[:-5]
            with open(meta, encoding="utf-8") as f:
                method, path, status = f.read().split()
            with open(base + ".h", encoding="utf-8", errors="replace") as f:
                headers = f.read()
            with open(base + ".b", encoding="utf-8", errors="replace") as f:
                body = f.read()
            n = len(problems)
            check(doc, method, path, status, headers, body,
                  argv[4] if len(argv) > 4 else None)
            if len(problems) > n:
                problems.append(f"  (the answer was: {status} "
                                f"{body[:300]})")
    elif len(argv) == 4 and argv[1] == "coverage":
        coverage_of(load(argv[2]), argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
