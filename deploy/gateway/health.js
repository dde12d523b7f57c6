// GET /api/health of the whole service (the shape of docs/contract.md, Health): asks ingest, the
// workers and reporting-api for their own /api/health at once and answers
// 200 "healthy" only when every one of them is healthy, else 503 "unhealthy"
// with each program's answer (or why there was none) under `checks`.
//
// Written for njs 0.7 (Debian 12's libnginx-mod-http-js, which the tests run)
// and later (the official nginx image): no destructuring, no spread.

var PROGRAMS = ['ingest', 'worker', 'reporting-api'];

function check(r, name) {
    var started = Date.now();
    return r.subrequest('/_health/' + name, { method: 'GET' }).then(
        function (reply) {
            var check = { status: 'down', http_status: reply.status, latency_ms: Date.now() - started };
            var body = null;
            try {
                body = JSON.parse(reply.responseText);
            } catch (e) {
                check.error = 'not a health answer';
            }
            if (body !== null && typeof body === 'object' && typeof body.status === 'string') {
                if (reply.status === 200 && body.status === 'healthy') {
                    check.status = 'up';
                }
                check.health = body;
            } else if (!check.error) {
                // The gateway's own 503 for an unreachable upstream.
                check.error = 'unreachable';
            }
            return check;
        },
        function (error) {
            return { status: 'down', error: String(error), latency_ms: Date.now() - started };
        }
    );
}

async function aggregate(r) {
    var replies = await Promise.all(PROGRAMS.map(function (name) { return check(r, name); }));
    var checks = {};
    var healthy = true;
    for (var i = 0; i < PROGRAMS.length; i++) {
        checks[PROGRAMS[i]] = replies[i];
        healthy = healthy && replies[i].status === 'up';
    }
    var body = {
        status: healthy ? 'healthy' : 'unhealthy',
        timestamp: new Date().toISOString(),
        service: 'clicks-service',
        checks: checks,
    };
    r.headersOut['Content-Type'] = 'application/json';
    r.headersOut['Cache-Control'] = 'no-store';
    r.return(healthy ? 200 : 503, JSON.stringify(body));
}

export default { aggregate };
