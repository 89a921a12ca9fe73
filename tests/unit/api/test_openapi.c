/* api/openapi.yaml is the contract of what nimbus serves: every route in it
 * must be in the server's route table and every route in the table must be
 * in it. json-glib reads no YAML, so a small line-based extractor reads the
 * regular layout the file keeps under "paths:". */
#include "api/routes.h"
#include "support/check_main.h"

#include <stdio.h>
#include <string.h>

#ifndef OPENAPI_YAML
#error "OPENAPI_YAML must name api/openapi.yaml"
#endif

/* "GET /api/v1/vmm.ping" for each method of each path. */
static GPtrArray *yaml_routes(void)
{
    g_autofree char *text = NULL;
    ck_assert_msg(g_file_get_contents(OPENAPI_YAML, &text, NULL, NULL), "cannot read %s",
                  OPENAPI_YAML);
    GPtrArray *routes = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    bool in_paths = false;
    g_autofree char *path = NULL;
    for (char **l = lines; *l; l++) {
        const char *line = *l;
        if (strcmp(line, "paths:") == 0) {
            in_paths = true;
            continue;
        }
        if (!in_paths || !*line || line[0] == '#')
            continue;
        if (line[0] != ' ')
            break; /* the next top-level key ends paths */
        if (g_str_has_prefix(line, "  /") && g_str_has_suffix(line, ":") && line[3] != ' ') {
            g_free(path);
            path = g_strndup(line + 2, strlen(line) - 3);
            continue;
        }
        static const char *const methods[] = { "get", "put", "post", "delete", "patch", "head" };
        for (size_t i = 0; i < G_N_ELEMENTS(methods); i++) {
            g_autofree char *want = g_strdup_printf("    %s:", methods[i]);
            if (strcmp(line, want) == 0) {
                ck_assert_msg(path, "method before any path in %s", OPENAPI_YAML);
                g_autofree char *m = g_ascii_strup(methods[i], -1);
                g_ptr_array_add(routes, g_strdup_printf("%s " API_PATH_PREFIX "%s", m, path));
            }
        }
    }
    return routes;
}

static bool contains(GPtrArray *a, const char *s)
{
    for (guint i = 0; i < a->len; i++)
        if (strcmp(a->pdata[i], s) == 0)
            return true;
    return false;
}

START_TEST(yaml_matches_route_table)
{
    g_autoptr(GPtrArray) yaml = yaml_routes();
    ck_assert_int_ge(yaml->len, 12);
    g_autoptr(GPtrArray) served = g_ptr_array_new_with_free_func(g_free);
    for (const ApiRoute *r = api_routes; r->path; r++)
        g_ptr_array_add(served, g_strdup_printf("%s %s", r->method, r->path));
    for (guint i = 0; i < yaml->len; i++)
        ck_assert_msg(contains(served, yaml->pdata[i]), "%s is in openapi.yaml but not served",
                      (char *)yaml->pdata[i]);
    for (guint i = 0; i < served->len; i++)
        ck_assert_msg(contains(yaml, served->pdata[i]), "%s is served but not in openapi.yaml",
                      (char *)served->pdata[i]);
    ck_assert_int_eq(yaml->len, served->len);
}
END_TEST

START_TEST(route_lookup)
{
    bool known;
    const ApiRoute *r = api_route_find("GET", "/api/v1/vm.info", &known);
    ck_assert(r && known);
    ck_assert_ptr_null(api_route_find("PUT", "/api/v1/vm.info", &known));
    ck_assert(known);
    ck_assert_ptr_null(api_route_find("GET", "/api/v1/vm.coredump", &known));
    ck_assert(!known);
}
END_TEST

static Suite *openapi_suite(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("routes");
    tcase_add_test(tc, yaml_matches_route_table);
    tcase_add_test(tc, route_lookup);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(openapi_suite)
