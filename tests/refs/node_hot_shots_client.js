// Sends a fixed set of metrics with the hot-shots client library to the
// StatsD address given on the command line, then closes the socket.
//
//   node node_hot_shots_client.js HOST PORT PREFIX
//
// counter PREFIX.hits: +1 four times and +6 once; gauge PREFIX.temp 21.5;
// timer PREFIX.rt: 5, 15, 25 ms; set PREFIX.ids: a, b, b;
// tagged counter PREFIX.tagged with tags env:prod, region:eu (DogStatsD |#).
const path = require('path');
const prefixDir = process.env.FERROGRAPH_REFS || '/opt/ferrograph-refs';
const StatsD = require(path.join(prefixDir, 'clients/node_modules/hot-shots'));

const [host, port, prefix] = process.argv.slice(2);
const client = new StatsD({
  host, port: Number(port), prefix: prefix + '.', protocol: 'udp',
  maxBufferSize: 0, errorHandler: (err) => { console.error(err); process.exitCode = 1; },
});
for (let i = 0; i < 4; i++) client.increment('hits');
client.increment('hits', 6);
client.gauge('temp', 21.5);
for (const ms of [5, 15, 25]) client.timing('rt', ms);
for (const id of ['a', 'b', 'b']) client.set('ids', id);
client.increment('tagged', 3, ['env:prod', 'region:eu']);
client.close((err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log('sent');
});
