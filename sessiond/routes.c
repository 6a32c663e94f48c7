/*
 * routes.c: thawd's route table (docs/api.md lists the same routes). The
 * pool's handlers are weak symbols: entries whose handler is not linked are
 * dropped before the table reaches the server (main.c).
 */
#include "thawd.h"

#include "banned.h"

const struct http_route thawd_routes[] = {
	{"GET", "/v1/health", api_health},
	{"GET", "/v1/version", api_version},
	{"GET", "/metrics", api_metrics},
	{"POST", "/v1/repos", api_repos_create},
	{"GET", "/v1/repos", api_repos_list},
	{"GET", "/v1/repos/:name", api_repos_get},
	{"POST", "/v1/repos/:name/images", api_images_build},
	{"GET", "/v1/repos/:name/images", api_images_list},
	{"POST", "/v1/sessions", api_sessions_create},
	{"GET", "/v1/sessions", api_sessions_list},
	{"GET", "/v1/sessions/:id", api_sessions_get},
	{"DELETE", "/v1/sessions/:id", api_sessions_delete},
	{"POST", "/v1/sessions/:id/snapshots", api_snapshots_create},
	{"GET", "/v1/sessions/:id/snapshots", api_snapshots_list},
	{"POST", "/v1/sessions/:id/timeout", api_sessions_timeout},
	{"POST", "/v1/sessions/:id/refresh", api_sessions_refresh},
	{"POST", "/v1/sessions/:id/participants", api_sessions_participants},
	{"POST", "/v1/sessions/:id/prompts", api_prompts_create},
	{"POST", "/v1/sessions/:id/prompts/current/done", api_prompts_done},
	{"POST", "/v1/sessions/:id/stop", api_sessions_stop},
	{"POST", "/v1/sessions/:id/export", api_sessions_export},
	{"GET", "/v1/sessions/:id/events", api_events_session},
	{"GET", "/v1/events", api_events_all},
	{"GET", "/v1/pools", api_pools_list},
	{"POST", "/v1/warm", api_warm},
};

const size_t thawd_nroutes = sizeof(thawd_routes) / sizeof(thawd_routes[0]);
