set terminal svg size 720,420 noenhanced
set output 'results/stream/synthetic_stream_shift/agreement.svg'
set title 'synthetic, prior_shift: true agreement on handled (10 seeds)'
set xlabel 'queries'
set ylabel 'true agreement on handled'
set key outside right
set grid
set datafile missing 'nan'
set arrow from graph 0, first 0.9 to graph 1, first 0.9 nohead dashtype 2
plot 'results/stream/synthetic_stream_shift/series.dat' index 0 using 1:3 with lines title 'online', 'results/stream/synthetic_stream_shift/series.dat' index 1 using 1:3 with lines title 'online no memory', 'results/stream/synthetic_stream_shift/series.dat' index 2 using 1:3 with lines title 'periodic', 'results/stream/synthetic_stream_shift/series.dat' index 3 using 1:3 with lines title 'periodic no monitor', 'results/stream/synthetic_stream_shift/series.dat' index 4 using 1:3 with lines title 'fit once'
