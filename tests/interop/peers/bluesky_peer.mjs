// The reference Bluesky stack (@atproto/dev-env: PLC directory, PDS, Bsky AppView on PostgreSQL)
// on loopback, written to by the tests through the PDS with @atproto/api, as a real client does.
//
// Started by tests/interop/peers.py from its cached install (copied next to node_modules).
// Environment: PEER_PG_URL (a database of its own), PEER_PG_SCHEMA. Prints one JSON line once
// ready: {"appview", "pds", "control"} URLs on 127.0.0.1. The control server takes
// POST /ops {"ops": [...]} and runs each op in order with AtpAgent (see OPS below), waits until
// the AppView has indexed everything, and answers {"results": [...]}. Ends on SIGTERM or when
// stdin closes (the test process went away).
import dns from 'node:dns'
import http from 'node:http'
import net from 'node:net'

// dev-env calls listen(port) without a host, which binds every interface: keep all on loopback.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const [first] = args
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  } else if (first && typeof first === 'object' && !('fd' in first) && !('path' in first) && !('_handle' in first)) {
    if (!first.host) args[0] = { ...first, host: '127.0.0.1' }
  } else if (first === undefined || typeof first === 'function') {
    args.unshift(0, '127.0.0.1')
  }
  return listen.apply(this, args)
}
dns.setDefaultResultOrder('ipv4first')
process.env.REDIS_HOST ??= '127.0.0.1:1' // asserted by TestNetwork.create; this version never connects

const { TestNetwork } = await import('@atproto/dev-env')
const { AtpAgent, RichText } = await import('@atproto/api')

const PASSWORD = 'interop-password'
const network = await TestNetwork.create({
  dbPostgresUrl: process.env.PEER_PG_URL,
  dbPostgresSchema: process.env.PEER_PG_SCHEMA,
})
const agents = new Map() // handle -> logged-in AtpAgent
const refs = new Map() // name -> {uri, cid, root}

const agentOf = (handle) => {
  const agent = agents.get(handle)
  if (!agent) throw new Error(`no account ${handle} made here`)
  return agent
}
const strongRef = (name) => {
  const ref = refs.get(name)
  if (!ref) throw new Error(`no post named ${name}`)
  return { uri: ref.uri, cid: ref.cid }
}

const OPS = {
  // A new account on the PDS, with a display name.
  async account({ handle, displayName }) {
    const agent = new AtpAgent({ service: network.pds.url })
    await agent.createAccount({ handle, email: `${handle}@example.invalid`, password: PASSWORD })
    if (displayName) await agent.upsertProfile((p) => ({ ...(p ?? {}), displayName }))
    agents.set(handle, agent)
    return { did: agent.session.did, handle }
  },
  // A post: facets (links, mentions, #tags) detected as the app does; reply, quote or link card.
  async post({ as, name, text, langs, reply, quote, card }) {
    const agent = agentOf(as)
    const rt = new RichText({ text })
    await rt.detectFacets(agent)
    const record = { text: rt.text, langs, createdAt: new Date().toISOString() }
    if (rt.facets?.length) record.facets = rt.facets
    let root
    if (reply) {
      const parent = strongRef(reply)
      root = refs.get(reply).root ?? parent
      record.reply = { root, parent }
    }
    if (quote) record.embed = { $type: 'app.bsky.embed.record', record: strongRef(quote) }
    if (card) record.embed = { $type: 'app.bsky.embed.external', external: { description: '', ...card } }
    const res = await agent.post(record)
    refs.set(name, { uri: res.uri, cid: res.cid, root })
    return { uri: res.uri, cid: res.cid }
  },
  async like({ as, post }) {
    const { uri, cid } = strongRef(post)
    return { uri: (await agentOf(as).like(uri, cid)).uri }
  },
  async repost({ as, post }) {
    const { uri, cid } = strongRef(post)
    return { uri: (await agentOf(as).repost(uri, cid)).uri }
  },
  async follow({ as, subject }) {
    const did = agents.get(subject)?.session?.did ?? subject
    return { uri: (await agentOf(as).follow(did)).uri }
  },
  async delete({ as, post }) {
    await agentOf(as).deletePost(strongRef(post).uri)
    return {}
  },
  async deactivate({ as }) {
    await agentOf(as).com.atproto.server.deactivateAccount({})
    return {}
  },
  async activate({ as }) {
    await agentOf(as).com.atproto.server.activateAccount()
    return {}
  },
}

const run = async (ops) => {
  const results = []
  for (const op of ops) {
    const fn = OPS[op.op]
    if (!fn) throw new Error(`unknown op ${op.op}`)
    results.push(await fn(op))
  }
  await network.processAll()
  return results
}

let queue = Promise.resolve()
const control = http.createServer((req, res) => {
  let body = ''
  req.on('data', (chunk) => (body += chunk))
  req.on('end', () => {
    queue = queue.then(async () => {
      try {
        const results = await run(JSON.parse(body).ops)
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }))
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err?.stack ?? err) }))
      }
    })
  })
})
await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve))

const loop = (url) => url.replace('//localhost:', '//127.0.0.1:')
console.log(
  JSON.stringify({
    appview: loop(network.bsky.url),
    pds: loop(network.pds.url),
    control: `http://127.0.0.1:${control.address().port}`,
  }),
)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  control.close()
  await network.close().catch((err) => console.error(err))
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.resume()
