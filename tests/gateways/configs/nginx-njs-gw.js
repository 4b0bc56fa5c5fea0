// njs 0.7.9: a client_credentials token fetched on EVERY request (no cache), then @backend.
async function handle(r) {
    const basic = Buffer.from('${client_id}:${client_secret}').toString('base64');
    let resp;
    try {
        resp = await ngx.fetch('http://127.0.0.1:${auth_port}/oauth2/token', {
            method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded', 'Authorization': 'Basic ' + basic},
            body: 'grant_type=client_credentials'
        });
    } catch (e) {
        r.return(502, 'token fetch failed\n');
        return;
    }
    if (resp.status != 200) {
        r.return(502, 'token endpoint said ' + resp.status + '\n');
        return;
    }
    const body = await resp.json();
    r.variables.svc_token = body.access_token;
    r.internalRedirect('@backend');
}
export default {handle};
