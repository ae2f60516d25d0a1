//! Routes: which handler a request goes to, after the token check, and
//! each handler against the [`Vmm`](vm_control::Vmm).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vm_control::{VmInfo, VmState};

use crate::http::Request;
use crate::response::Response;
use crate::{Context, json, page, token_matches, ws};

/// What a request leads to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A response.
    Respond(Response),
    /// A WebSocket console on this VM, with the 101 response to send.
    Upgrade(usize, Vec<u8>),
}

/// A path this API serves; ids not yet parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Page,
    Vms,
    Configs,
    Vm(&'a str),
    Start(&'a str),
    Stop(&'a str),
    Restart(&'a str),
    Console(&'a str),
    ConsoleWs(&'a str),
    Shutdown,
}

impl Route<'_> {
    /// The methods the route accepts.
    fn allow(self) -> &'static str {
        match self {
            Self::Page | Self::Configs | Self::Console(_) => "GET, HEAD",
            Self::Vms => "GET, HEAD, POST",
            Self::Vm(_) => "GET, HEAD, DELETE",
            Self::Start(_) | Self::Stop(_) | Self::Restart(_) | Self::Shutdown => "POST",
            Self::ConsoleWs(_) => "GET",
        }
    }
}

fn route(path: &str) -> Option<Route<'_>> {
    let path = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let mut parts = path.split('/').skip(1);
    let parts: [Option<&str>; 6] = core::array::from_fn(|_| parts.next());
    Some(match parts {
        [Some(""), None, ..] => Route::Page,
        [Some("api"), Some("vms"), None, ..] => Route::Vms,
        [Some("api"), Some("configs"), None, ..] => Route::Configs,
        [Some("api"), Some("shutdown"), None, ..] => Route::Shutdown,
        [Some("api"), Some("vms"), Some(id), None, ..] => Route::Vm(id),
        [Some("api"), Some("vms"), Some(id), Some("start"), None, ..] => Route::Start(id),
        [Some("api"), Some("vms"), Some(id), Some("stop"), None, ..] => Route::Stop(id),
        [
            Some("api"),
            Some("vms"),
            Some(id),
            Some("restart"),
            None,
            ..,
        ] => Route::Restart(id),
        [
            Some("api"),
            Some("vms"),
            Some(id),
            Some("console"),
            None,
            ..,
        ] => Route::Console(id),
        [
            Some("api"),
            Some("vms"),
            Some(id),
            Some("console"),
            Some("ws"),
            None,
        ] => Route::ConsoleWs(id),
        _ => return None,
    })
}

/// Whether the request presents the token: `Authorization: Bearer TOKEN`,
/// or, if `subprotocol`, `Sec-WebSocket-Protocol: ..., bearer.TOKEN`.
fn authorized(request: &Request, ctx: &Context, subprotocol: bool) -> bool {
    let expected = ctx.token.as_bytes();
    let header = request
        .headers
        .iter()
        .filter(|(n, _)| n == "authorization")
        .any(|(_, value)| {
            value.split_once(' ').is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer")
                    && token_matches(token.trim().as_bytes(), expected)
            })
        });
    let protocol = subprotocol
        && request
            .headers
            .iter()
            .filter(|(n, _)| n == "sec-websocket-protocol")
            .flat_map(|(_, v)| v.split(','))
            .filter_map(|p| p.trim().strip_prefix(ws::TOKEN_PREFIX))
            .any(|token| token_matches(token.as_bytes(), expected));
    header | protocol
}

fn unauthorized(ctx: &Context) -> Response {
    let message = if ctx.token.is_empty() {
        "the API has no token configured, so it refuses every call (boot with api.token=TOKEN)"
    } else {
        "missing or wrong token (send Authorization: Bearer TOKEN)"
    };
    Response::error(401, message).with_header("WWW-Authenticate", "Bearer")
}

/// Handles one whole request (`body` is exactly its body).
pub(crate) fn handle(request: &Request, body: &[u8], ctx: &Context) -> Outcome {
    let path = request.path.as_str();
    let route = route(path);
    if (path == "/api" || path.starts_with("/api/"))
        && !authorized(request, ctx, matches!(route, Some(Route::ConsoleWs(_))))
    {
        return Outcome::Respond(unauthorized(ctx));
    }
    let Some(route) = route else {
        return Outcome::Respond(Response::error(404, &format!("no such path: {path}")));
    };
    let method = request.method.as_str();
    let allowed = route.allow().split(", ").any(|m| m == method);
    if !allowed {
        let message = format!(
            "{method} is not allowed on {path} (allowed: {})",
            route.allow()
        );
        return Outcome::Respond(
            Response::error(405, &message).with_header("Allow", route.allow()),
        );
    }
    let result = match route {
        Route::Page => Ok(page::response()),
        Route::Vms if method == "POST" => Ok(create(request, body, ctx)),
        Route::Vms => Ok(Response::json(
            200,
            json::vm_list(&ctx.vmm.vms(), ctx.vmm.free_memory()),
        )),
        Route::Configs => Ok(Response::json(200, json::configs(&ctx.vmm.configs()))),
        Route::Shutdown => {
            ctx.vmm.shutdown();
            Ok(Response::json(202, String::from("{\"shutting_down\": true}\n")).closing())
        }
        Route::Vm(id) if method == "DELETE" => existing(id, ctx).map(|vm| delete(&vm, ctx)),
        Route::Vm(id) => existing(id, ctx)
            .map(|vm| Response::json(200, json::vm_body(&vm, Some(&ctx.vmm.console_lines(vm.id))))),
        Route::Start(id) => existing(id, ctx).map(|vm| start(&vm, ctx)),
        Route::Stop(id) => existing(id, ctx).map(|vm| stop(&vm, ctx)),
        Route::Restart(id) => existing(id, ctx).map(|vm| restart(&vm, ctx)),
        Route::Console(id) => existing(id, ctx).and_then(|vm| console(request, &vm, ctx)),
        Route::ConsoleWs(id) => {
            return match existing(id, ctx).and_then(|vm| {
                ws::handshake(request)
                    .map(|r| (vm.id, r))
                    .map_err(|e| Response::error(400, e))
            }) {
                Ok((vm, response)) => Outcome::Upgrade(vm, response),
                Err(response) => Outcome::Respond(response),
            };
        }
    };
    Outcome::Respond(result.unwrap_or_else(|error| error))
}

/// The VM with the id `text`: 400 if it is not an id, 404 if there is none.
fn existing(text: &str, ctx: &Context) -> Result<VmInfo, Response> {
    let id = match text.parse::<usize>() {
        Ok(id) if text.bytes().all(|b| b.is_ascii_digit()) => id,
        _ => {
            return Err(Response::error(
                400,
                &format!("'{text}' is not a VM id (a number)"),
            ));
        }
    };
    find(id, ctx).ok_or_else(|| Response::error(404, &format!("no VM {id}")))
}

fn find(id: usize, ctx: &Context) -> Option<VmInfo> {
    ctx.vmm.vms().into_iter().find(|vm| vm.id == id)
}

/// 200 with the VM as it is now.
fn vm_now(id: usize, ctx: &Context) -> Response {
    match find(id, ctx) {
        Some(vm) => Response::json(200, json::vm_body(&vm, None)),
        None => Response::error(404, &format!("VM {id} is gone")),
    }
}

fn start(vm: &VmInfo, ctx: &Context) -> Response {
    if vm.state != VmState::Stopped {
        return Response::error(
            409,
            &format!(
                "VM {} is {}: only a stopped VM can be started",
                vm.id, vm.state
            ),
        );
    }
    match ctx.vmm.start(vm.id) {
        Ok(()) => vm_now(vm.id, ctx),
        Err(message) => Response::error(409, &message),
    }
}

fn stop(vm: &VmInfo, ctx: &Context) -> Response {
    if vm.state == VmState::Stopped {
        return Response::error(409, &format!("VM {} is already stopped", vm.id));
    }
    match ctx.vmm.stop(vm.id) {
        Ok(how) => Response::json(200, json::stopped(vm.id, how)),
        Err(message) => Response::error(409, &message),
    }
}

fn restart(vm: &VmInfo, ctx: &Context) -> Response {
    if vm.state != VmState::Stopped
        && let Err(message) = ctx.vmm.stop(vm.id)
    {
        return Response::error(409, &message);
    }
    match ctx.vmm.start(vm.id) {
        Ok(()) => vm_now(vm.id, ctx),
        Err(message) => Response::error(409, &message),
    }
}

fn delete(vm: &VmInfo, ctx: &Context) -> Response {
    if vm.state != VmState::Stopped {
        return Response::error(
            409,
            &format!("VM {} is {}: stop it before deleting it", vm.id, vm.state),
        );
    }
    match ctx.vmm.delete(vm.id) {
        Ok(()) => Response::json(200, format!("{{\"deleted\": {}}}\n", vm.id)),
        Err(message) => Response::error(409, &message),
    }
}

fn console(request: &Request, vm: &VmInfo, ctx: &Context) -> Result<Response, Response> {
    let from = match request.query_param("from") {
        None => 0,
        Some(Err(error)) => return Err(Response::error(error.status, &error.message)),
        Some(Ok(text)) => match text.parse::<u64>() {
            Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(Response::error(
                    400,
                    &format!("from='{text}' is not a line number"),
                ));
            }
        },
    };
    match ctx.vmm.console_since(vm.id, from) {
        Some(lines) => Ok(Response::json(200, json::console(&lines))),
        None => Err(Response::error(404, &format!("no VM {}", vm.id))),
    }
}

/// The media type of a `Content-Type`, in lower case, without parameters.
fn media_type(request: &Request) -> Option<String> {
    let value = request.header("content-type")?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// POST /api/vms: a config by name (JSON body) or as text (`?file=`).
fn create(request: &Request, body: &[u8], ctx: &Context) -> Response {
    if request.content_length.is_none() {
        return Response::error(411, "POST /api/vms needs a body with a Content-Length").closing();
    }
    let media = media_type(request);
    let created = match request.query_param("file") {
        Some(Err(error)) => return Response::error(error.status, &error.message),
        Some(Ok(file)) => {
            if media.as_deref() != Some("application/toml") {
                return Response::error(415, "a config text needs Content-Type: application/toml");
            }
            if file.is_empty() {
                return Response::error(400, "?file= needs a name (NAME.toml)");
            }
            let Ok(text) = core::str::from_utf8(body) else {
                return Response::error(400, "the config text is not UTF-8");
            };
            ctx.vmm.create_from_text(&file, text)
        }
        None => {
            match media.as_deref() {
                None | Some("application/json") => {}
                Some("application/toml") => {
                    return Response::error(400, "a config text needs ?file=NAME.toml");
                }
                Some(_) => {
                    return Response::error(
                        415,
                        "the body must be JSON (Content-Type: application/json)",
                    );
                }
            }
            let members = match json::object_strings(body) {
                Ok(members) => members,
                Err(message) => return Response::error(400, message),
            };
            let config = match members.into_iter().rev().find(|(name, _)| name == "config") {
                None => return Response::error(400, "the body needs \"config\": \"NAME.toml\""),
                Some((_, None)) => return Response::error(400, "\"config\" must be a string"),
                Some((_, Some(config))) if config.is_empty() => {
                    return Response::error(400, "\"config\" is empty");
                }
                Some((_, Some(config))) => config,
            };
            ctx.vmm.create(&config)
        }
    };
    match created {
        Ok(id) => Response::json(201, format!("{{\"id\": {id}}}\n"))
            .with_header("Location", format!("/api/vms/{id}")),
        Err(error) => Response::json(422, json::create_error(&error)),
    }
}
