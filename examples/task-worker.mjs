// A worker: registered as an app, it waits for tasks and answers them (App Mesh's task API, with
// the official npm package's server module). Register it, then send it work:
//   curl -X PUT -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
//        -d "{\"command\": \"node $PWD/examples/task-worker.mjs\", \"env\": {\"APPMESH_URL\": \"http://127.0.0.1:6060\"}, \"behavior\": {\"exit\": \"restart\"}}" \
//        http://127.0.0.1:6060/appmesh/app/upper
//   curl -X POST -H "Authorization: Bearer $TOKEN" --data 'hello' 'http://127.0.0.1:6060/appmesh/app/upper/task?timeout=30'
import { AppMeshServer } from 'appmesh/server';

// The daemon gives every process APP_MESH_PROCESS_KEY and APP_MESH_APPLICATION_NAME: the worker
// needs no token of its own.
const server = new AppMeshServer(process.env.APPMESH_URL ?? 'http://127.0.0.1:6060');
for (;;) {
  const task = await server.task_fetch();
  const text = typeof task === 'string' ? task : JSON.stringify(task);
  await server.task_return(text.toUpperCase());
}
