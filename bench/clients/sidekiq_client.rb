# sidekiq_client.rb -- the submitting side of Sidekiq in bench/run.
#   ruby sidekiq_client.rb PORT submit N one|bulk   time pushing N jobs
#                                                   (bulk: push_bulk,
#                                                   1000 a call)
#   ruby sidekiq_client.rb PORT prequeue N          push N jobs, untimed
#   ruby sidekiq_client.rb PORT latency RATE S      paced pushes of LatJob;
#                                                   the percentiles of what
#                                                   the jobs recorded
# The workers: sidekiq -r sidekiq_jobs.rb (see bench/run).
require 'json'
require 'sidekiq'
# redis-rb 4.8 warns on every SADD Sidekiq makes; the warning is not
# Sidekiq's cost, so it is turned off.
Redis.silence_deprecations = true

port = ARGV[0].to_i
mode = ARGV[1]
Sidekiq.configure_client { |c| c.redis = { url: "redis://127.0.0.1:#{port}/0" } }
def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

case mode
when 'submit', 'prequeue'
  n = ARGV[2].to_i
  t0 = now
  if mode == 'prequeue' || ARGV[3] == 'bulk'
    (0...n).step(1000) do |i|
      args = (i...[n, i + 1000].min).map { |j| [j] }
      Sidekiq::Client.push_bulk('class' => 'NoopJob', 'args' => args)
    end
  else
    n.times { |i| Sidekiq::Client.push('class' => 'NoopJob', 'args' => [i]) }
  end
  puts({ value: (n / (now - t0)).round, unit: 'jobs/s', jobs: n }.to_json) if mode == 'submit'
when 'latency'
  rate = ARGV[2].to_i
  n = rate * ARGV[3].to_i
  t0 = now
  n.times do |i|
    d = t0 + i.to_f / rate - now
    sleep d if d > 0
    Sidekiq::Client.push('class' => 'LatJob', 'args' => [now])
  end
  deadline = now + 30
  sleep 0.05 while Sidekiq.redis { |c| c.llen('bench:lat') } < n && now < deadline
  lat = Sidekiq.redis { |c| c.lrange('bench:lat', 0, -1) }.map(&:to_f).sort
  abort "sidekiq_client.rb: #{n - lat.size} jobs not run" if lat.size < n
  puts({ p50: lat[n / 2].round(3), p99: lat[n * 99 / 100].round(3),
         max: lat[-1].round(3), unit: 'ms', jobs: n }.to_json)
end
